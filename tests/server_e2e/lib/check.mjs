// Small checks the tests share: a JSON-schema validator for the subset the tests use (so a
// structured output is checked against its schema by code that did not generate it), and a
// safetensors reader for the fixtures' reference tensors.
import { readFileSync } from 'node:fs';

// Returns a list of violations of `schema` by `value` (empty when valid).
export function validate(schema, value, where = '$') {
  const errors = [];
  const typeOf = (v) =>
    v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    errors.push(`${where}: ${JSON.stringify(value)} not in enum`);
  }
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = typeOf(value);
    const ok = types.some((t) => t === actual || (t === 'number' && actual === 'integer'));
    if (!ok) return [`${where}: expected ${types.join('|')}, got ${actual}`];
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.maxLength !== undefined && length > schema.maxLength) errors.push(`${where}: longer than maxLength`);
    if (schema.minLength !== undefined && length < schema.minLength) errors.push(`${where}: shorter than minLength`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${where}: below minimum`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${where}: above maximum`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${where}: too few items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${where}: too many items`);
    if (schema.items) value.forEach((item, i) => errors.push(...validate(schema.items, item, `${where}[${i}]`)));
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const key of schema.required ?? []) {
      if (!(key in value)) errors.push(`${where}: missing required '${key}'`);
    }
    for (const [key, item] of Object.entries(value)) {
      const property = schema.properties?.[key];
      if (property) errors.push(...validate(property, item, `${where}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${where}: unexpected property '${key}'`);
    }
  }
  return errors;
}

// {name: {dtype, shape, data: Float32Array | Int32Array}} of a .safetensors file.
export function readSafetensors(file) {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = info.data_offsets;
    const slice = bytes.subarray(8 + headerLength + begin, 8 + headerLength + end);
    const buffer = slice.buffer.slice(slice.byteOffset, slice.byteOffset + slice.byteLength);
    const data = info.dtype === 'F32' ? new Float32Array(buffer) : new Int32Array(buffer);
    tensors[name] = { dtype: info.dtype, shape: info.shape, data };
  }
  return tensors;
}

export const maxAbsDifference = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
