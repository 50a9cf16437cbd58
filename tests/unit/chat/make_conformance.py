#!/usr/bin/env python3
"""Regenerates jinja_conformance.json: Jinja2's own renderings of the snippets below, in the
environment transformers builds for chat templates (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols, json.dumps-based tojson, raise_exception, a pinned strftime_now).

    python3 tests/unit/chat/make_conformance.py   (needs python3-jinja2)

test-chat renders every snippet with ferrum's interpreter and compares byte for byte.
"""
import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
import jinja2.sandbox


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def strftime_now(fmt):
    return datetime(2024, 7, 26, 9, 5, 3).strftime(fmt)


ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(
    trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception
ENV.globals["strftime_now"] = strftime_now

# Variables every snippet sees (JSON-expressible, so the C++ side can load them).
CONTEXT = {
    "s": "Hello World",
    "u": "héllo wörld ✓ 日本",
    "n": None,
    "t": True,
    "f": False,
    "i": 42,
    "neg": -7,
    "x": 2.5,
    "l": [3, 1, 2],
    "e": [],
    "d": {"b": 1, "a": [1, 2], "c": {"k": "v"}},
    "items": [{"name": "b", "v": 2, "tags": ["x"]}, {"name": "A", "v": 1}, {"name": "c", "v": 3, "tags": []}],
    "messages": [
        {"role": "system", "content": "  sys  "},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nhello", "tool_calls": None},
        {"role": "user", "content": "bye"},
    ],
    "nested": {"a": {"b": {"c": [10, 20, {"d": "deep"}]}}},
    "text": "line one\nline two\n\nline four\n",
    "quote": "it's \"quoted\" \\ back\tslash\n",
}

SNIPPETS = [
    # ---- whitespace control: trim_blocks, lstrip_blocks, -, + ----
    "{% if t %}\nyes\n{% endif %}\nafter",
    "  {% if t %}\n  indented\n  {% endif %}\ndone",
    "a  {% if t %}b{% endif %}  c",
    "{% for v in l %}\n  {{ v }}\n{% endfor %}",
    "{% for v in l %}\n  {{ v }}\n  {% endfor %}",
    "{% for v in l -%}\n  {{ v }}\n{%- endfor %}",
    "{%- for v in l %} {{ v }} {% endfor -%}",
    "x\n  {%+ if t %}kept{% endif %}\n",
    "x\n  {% if t +%}\nnewline kept{% endif %}",
    "{{ 'a' }}\n  {{ 'b' }}\n{{- 'c' -}}\n  d",
    "{# comment #}\nnext\n  {# indented comment #}\nafter",
    "a {#- c -#} b",
    "line\n\t {% if t %}tabbed{% endif %}",
    "{% raw %}\n  {{ not evaluated }} {% if %}\n  {% endraw %}\ndone",
    "{%- raw -%}  x  {%- endraw -%}  y",
    "{% if t %}{% if t %}  {% endif %}{% endif %}|",
    "{% if t %}\n  {% if t %}  nested  {% endif %}\n{% endif %}",
    "{% set x = 1 %}\n{{ x }}\n{% set y = 2 %}\n\n{{ y }}",
    "text with trailing newline\n",
    "crlf\r\nline\r\n{% if t %}\r\nin\r\n{% endif %}\r\n",
    "{{ 'a' -}}\n\n   \n{{ 'b' }}",
    "{% macro m() %}\n  body\n{% endmacro %}\n[{{ m() }}]",
    # ---- literals and printing ----
    "{{ 1 }} {{ -1 }} {{ 1.0 }} {{ 1.5e3 }} {{ 1e-7 }} {{ 1e16 }} {{ 0.1 + 0.2 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }}",
    "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }} {{ n }}",
    "{{ 'single' }} {{ \"double\" }} {{ 'adj' 'acent' }} {{ 'esc\\n\\t\\\\\\'' }} {{ '\\x41\\u00e9\\U0001F600' }} {{ '\\q' }}",
    "{{ [1, 'a', none, true, 2.0, [x], {'k': (1,)}] }}",
    "{{ (1, 2) }} {{ (1,) }} {{ () }} {{ [] }} {{ {} }} {{ [1,] }}",
    "{{ d }} {{ quote }} {{ [quote] }} {{ [\"it's\"] }} {{ ['a\"b'] }}",
    "{{ u }} {{ [u] }} {{ u|length }} {{ u[1:4] }} {{ u|upper }} {{ u[::-1] }}",
    "{{ {'a': 1, 'a': 2} }} {{ {1: 'x', true: 'y'} }}",
    "{{ 1, 2 }}",
    # ---- arithmetic and operators ----
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7 / 2 }} {{ 6 / 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
    "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2.0 ** 3 }} {{ 1 - 1.0 }} {{ 3 * 1.5 }} {{ true + true }} {{ 10 - t }}",
    "{{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ -(2 ** 2) }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 10 - 2 - 3 }}",
    "{{ 'ab' * 3 }} {{ 3 * 'ab' }} {{ [1] * 3 }} {{ 'x' * 0 }} {{ 'x' * -1 }} {{ [1, 2] + [3] }} {{ (1,) + (2,) }}",
    "{{ 'a' ~ 1 ~ none ~ true ~ 1.5 ~ [1] }} {{ undefined_var ~ 'x' }}",
    "{{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' == 'a' }} {{ [1, 2] == [1, 2] }} {{ (1,) == [1] }} {{ d == d }} {{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }}",
    "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 <= 1 }} {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }} {{ 1 != 2 }}",
    "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 1 in l }} {{ 'b' in d }} {{ 'zz' in d }} {{ 5 not in l }} {{ 'x' in undefined_var }}",
    "{{ 1 and 2 }} {{ 0 and 2 }} {{ 0 or 'x' }} {{ '' or [] }} {{ not 0 }} {{ not 'a' }} {{ n or 'default' }}",
    "{{ 'yes' if t else 'no' }} {{ 'yes' if f else 'no' }} [{{ 'yes' if f }}] {{ 1 if f else 2 if t else 3 }}",
    "{{ not t == f }} {{ not t is defined }} {{ - 3 + 5 }} {{ -x|abs }}",
    # ---- attribute, item, slicing ----
    "{{ d.b }} {{ d['b'] }} {{ d.c.k }} {{ d['c']['k'] }} {{ l[0] }} {{ l[-1] }} {{ l.1 }} [{{ l[10] }}] [{{ d.zz }}]",
    "{{ nested.a.b.c[2].d }} {{ nested['a'].b['c'][0] }} {{ s[0] }} {{ s[-1] }} [{{ s[100] }}]",
    "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ l[5:] }} {{ l[-2:] }} {{ s[:5] }} {{ s[6:] }} {{ s[::-2] }} {{ (1, 2, 3)[1:] }}",
    "{{ d.get('b') }} {{ d.get('zz') }} {{ d.get('zz', 'fallback') }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
    "{{ n.attr }}|{{ i.attr }}|{{ s.nope }}",
    # ---- string methods ----
    "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nab\\n'.lstrip('\\n') }}|{{ 'ab  '.rstrip() }}|{{ 'abc'.rstrip('c') }}",
    "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'a b c'.rsplit(None, 1) }} {{ ''.split() }} {{ ''.split(',') }}",
    "{{ messages[2].content.split('</think>')[-1].lstrip('\\n') }}|{{ messages[2].content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
    "{{ s.startswith('Hell') }} {{ s.endswith('xx') }} {{ s.startswith(('x', 'H')) }} {{ s.upper() }} {{ s.lower() }} {{ 'hello wORLD'.title() }} {{ 'hELLO'.capitalize() }} {{ 'aBc'.swapcase() }}",
    "{{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }} {{ s.find('o') }} {{ s.rfind('o') }} {{ s.find('z') }} {{ s.count('l') }} {{ u.find('w') }}",
    "{{ '-'.join(['a', 'b']) }} {{ ', '.join(l|map('string')) }} {{ '{} and {}'.format('x', 1) }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='n') }}",
    "{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ 'a1'.isalnum() }} {{ '  '.isspace() }} {{ 'abc'.islower() }} {{ 'ABC'.isupper() }} {{ ''.isdigit() }}",
    "{{ '42'.zfill(5) }} {{ '-42'.zfill(5) }} {{ 'ab'.center(6, '*') }} {{ 'ab'.ljust(4, '.') }} {{ 'ab'.rjust(4) }} {{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }}",
    "{{ 'line1\\nline2\\r\\nline3'.splitlines() }} {{ 'prefix_x'.removeprefix('prefix_') }} {{ 'x.txt'.removesuffix('.txt') }}",
    "{{ '%s-%d-%.2f-%5s|%-5s|%05d|%x|%r' % ('a', 3, 1.5, 'b', 'c', 42, 255, 'q') }} {{ '%(a)s/%(b)s' % {'a': 1, 'b': 2} }} {{ '100%%' % () }}",
    # ---- filters ----
    "{{ '  x  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello world-foo(bar'|title }}|{{ 'hELLO'|capitalize }}",
    "{{ l|length }} {{ s|length }} {{ d|length }} {{ e|count }} {{ undefined_var|length }}",
    "{{ l|first }} {{ l|last }} {{ s|first }} {{ s|last }} {{ d|first }} [{{ e|first }}] [{{ e|last }}]",
    "{{ l|join }} {{ l|join(', ') }} {{ items|join('/', attribute='name') }} {{ [1, none, 'a']|join('-') }}",
    "{{ undefined_var|default('dflt') }} {{ n|default('dflt') }} {{ ''|default('dflt') }} {{ ''|default('dflt', true) }} {{ 0|d('z', boolean=true) }}",
    "{{ 'a b a'|replace('a', 'x') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ l|list }} {{ 'abc'|list }} {{ d|list }}",
    "{{ l|map('string')|list }} {{ items|map(attribute='name')|list }} {{ items|map(attribute='tags')|list }} {{ items|map(attribute='tags', default='none')|list }}",
    "{{ [{'t': [5]}]|map(attribute='t.0')|list }} {{ nested.a.b.c|map('string')|join(',') }} {{ ['A', 'b']|map('lower')|join }} {{ l|map('int')|sum }}",
    "{{ l|select('odd')|list }} {{ l|reject('odd')|list }} {{ l|select('gt', 1)|list }} {{ [0, 1, '', 'a', none]|select|list }} {{ l|select('in', [1, 3])|list }}",
    "{{ items|selectattr('v', 'gt', 1)|map(attribute='name')|list }} {{ items|rejectattr('tags')|map(attribute='name')|list }} {{ messages|selectattr('role', 'equalto', 'user')|list|length }}",
    "{{ messages|selectattr('tool_calls', 'defined')|list|length }} {{ messages|rejectattr('role', 'in', ['system', 'user'])|map(attribute='role')|list }}",
    "{{ d|items|list }} {{ d|dictsort }} {{ {'b': 1, 'A': 2, 'c': 0}|dictsort }} {{ {'b': 1, 'A': 2}|dictsort(true) }} {{ {'b': 1, 'A': 2, 'c': 0}|dictsort(by='value', reverse=true) }}",
    "{{ l|sort }} {{ l|sort(reverse=true) }} {{ ['b', 'A', 'a', 'C']|sort }} {{ ['b', 'A', 'a', 'C']|sort(case_sensitive=true) }} {{ items|sort(attribute='name')|map(attribute='v')|list }}",
    "{{ [1, 2, 2, 3, 1]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ ['a', 'A', 'b']|unique(true)|list }} {{ items|unique(attribute='v')|list|length }}",
    "{{ l|reverse|list }} {{ 'abc'|reverse }} {{ l|sum }} {{ items|sum(attribute='v') }} {{ [[1], [2]]|sum(start=[]) }} {{ l|min }} {{ l|max }} {{ ['a', 'B']|max }} {{ items|max(attribute='v') }}",
    "{{ -3|abs }} {{ x|abs }} {{ x|int }} {{ '42'|int }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ ' 12 '|int }} {{ '0x1A'|int(0, 16) }} {{ n|int }}",
    "{{ '1.5'|float }} {{ 'x'|float }} {{ 3|float }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(method='ceil') }} {{ 7|round }} {{ 1234|round(-2) }}",
    "{{ i|string + 'x' }} {{ n|string }} {{ l|string }} {{ x|string }} {{ t|string|length }}",
    "{{ 'a<b>&\"\\''|e }} {{ 'x'|escape }} {{ 1|safe }} {{ '<b>'|safe }}",
    "{{ text|indent }}|{{ text|indent(2, true) }}|{{ text|indent(2, blank=true) }}|{{ 'one'|indent(first=true) }}|{{ text|indent('> ') }}",
    "{{ 'x'|center(6) }}|{{ 'xx'|center(7) }}|{{ 'hello world there'|truncate(12) }}|{{ 'hello world there'|truncate(12, true) }}|{{ 'hello'|truncate(3) }}|{{ 'a b c'|wordcount }}",
    "{{ l|batch(2)|list }} {{ l|batch(2, 0)|list }} {{ '%s, %s'|format('a', 'b') }} {{ '%(x)s'|format(x=1) }} {{ l|attr('count') is defined }}",
    "{{ d|tojson }} {{ s|tojson }} {{ u|tojson }} {{ quote|tojson }} {{ [1.5, none, true, 1e100, -0.0]|tojson }}",
    "{{ d|tojson(indent=2) }}|{{ e|tojson(indent=2) }}|{{ {}|tojson(indent=2) }}|{{ [[]]|tojson(indent=1) }}",
    "{{ d|tojson(separators=(',', ':')) }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ u|tojson(ensure_ascii=true) }} {{ '😀'|tojson(true) }} {{ d|tojson(indent='\\t') }}",
    "{{ {1: 'int key', none: 'none key', true: 'bool key', 2.5: 'float key'}|tojson }}",
    "{{ '\\u0001\\u001f\\u007f\\b\\f'|tojson }}",
    "{{ (1, 2)|tojson }} {{ messages|tojson }}",
    # ---- tests ----
    "{{ undefined_var is defined }} {{ s is defined }} {{ undefined_var is undefined }} {{ n is none }} {{ n is not none }} {{ 0 is none }}",
    "{{ s is string }} {{ i is string }} {{ i is number }} {{ x is number }} {{ t is number }} {{ i is integer }} {{ t is integer }} {{ x is float }} {{ t is boolean }} {{ i is boolean }}",
    "{{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ s is iterable }} {{ d is iterable }} {{ i is iterable }} {{ n is iterable }} {{ undefined_var is iterable }}",
    "{{ l is sequence }} {{ s is sequence }} {{ d is sequence }} {{ i is sequence }} {{ range is callable }} {{ s is callable }} {{ s.upper is callable }}",
    "{{ t is true }} {{ 1 is true }} {{ f is false }} {{ 0 is false }} {{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}",
    "{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is gt 1 }} {{ 1 is le 1 }} {{ 1 is ge 2 }} {{ 2 is in l }} {{ 'user' is in ['user'] }}",
    "{{ l is sameas l }} {{ n is sameas none }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ 'nope' is filter }}",
    # ---- for loops ----
    "{% for v in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
    "{% for v in l %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}",
    "{% for v in l %}{{ loop.cycle('a', 'b') }}{% endfor %} {% for v in [1, 1, 2] %}{{ loop.changed(v) }}{% endfor %}",
    "{% for v in l if v > 1 %}{{ v }}:{{ loop.index }}/{{ loop.length }} {% endfor %}",
    "{% for v in e %}never{% else %}empty{% endfor %} {% for v in l if v > 10 %}x{% else %}filtered away{% endfor %}",
    "{% for v in undefined_var %}x{% else %}undefined iterates as empty{% endfor %}",
    "{% for k in d %}{{ k }},{% endfor %} {% for c in 'hé!' %}{{ c }}.{% endfor %}",
    "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}",
    "{% for v in l %}{% if v == 1 %}{% continue %}{% endif %}{{ v }}{% if v == 2 %}{% break %}{% endif %}{% endfor %}",
    "{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %} {% for m in messages|reverse %}{{ loop.index0 }}{% endfor %}",
    "{% for i in range(3) %}{% for j in range(2) %}{{ loop.index }}{% endfor %}{{ loop.index }}|{% endfor %}",
    "{% for i in range(3) %}{% set outer = loop %}{% for j in range(2) %}{{ outer.index }}{{ loop.index }} {% endfor %}{% endfor %}",
    "{{ range(5)|list }} {{ range(2, 5)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }}",
    "{% for item in [{'n': 'a', 'c': [{'n': 'b', 'c': []}]}] recursive %}{{ item.n }}({{ loop.depth }}){% if item.c %}[{{ loop(item.c) }}]{% endif %}{% endfor %}",
    # ---- set, scoping, namespace ----
    "{% set a = 1 %}{% set b, c = 2, 3 %}{{ a }}{{ b }}{{ c }}{% set t2 = 4, 5 %}{{ t2 }}",
    "{% set x = 1 %}{% for v in l %}{% set x = v %}{% endfor %}{{ x }}",
    "{% for v in l %}{% if loop.first %}{% set seen = 'first' %}{% endif %}[{{ seen }}]{% endfor %}",
    "{% set ns = namespace(total=0, names=[]) %}{% for v in l %}{% set ns.total = ns.total + v %}{% endfor %}{{ ns.total }} {{ ns.names }}",
    "{% set ns = namespace() %}{% set ns.a = 1 %}{{ ns.a }}{{ ns.missing }}",
    "{% set ns = namespace(d) %}{{ ns.b }}",
    "{% if t %}{% set in_if = 'leaks' %}{% endif %}{{ in_if }}",
    "{% set block %}  captured {{ s }} {% endset %}[{{ block }}]{% set up | upper | trim %}  shout  {% endset %}[{{ up }}]",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]",
    "{% filter upper %}hello {{ s }}{% endfilter %}{% filter replace('a', 'b')|upper %}banana{% endfilter %}",
    "{% set messages = messages[1:] %}{{ messages|length }}",
    "{% set d2 = {'k': [1, {'z': none}]} %}{{ d2.k[1].z }}|{{ d2 }}",
    # ---- macros and call blocks ----
    "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('A') }} {{ greet('B', 'Hi') }} {{ greet(greeting='Yo', name='C') }}",
    "{% macro m(a, b=a * 2) %}{{ a }}/{{ b }}{% endmacro %}{{ m(3) }}",
    "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}",
    "{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}",
    "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * fact(k - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}",
    "{% macro outer() %}<{{ caller() }}>{% endmacro %}{% call outer() %}inside {{ s }}{% endcall %}",
    "{% macro list_items(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) list_items(l) %}({{ v }}){% endcall %}",
    "{% macro m() %}{{ outer_var }}{% endmacro %}{% set outer_var = 'seen at call' %}{{ m() }}",
    "{% macro m() %}x{% endmacro %}{{ m }} {{ m.name }} {{ m is callable }}",
    "{% set ns = namespace(out='') %}{% macro add(v) %}{% set ns.out = ns.out ~ v %}{% endmacro %}{{ add('a') }}{{ add('b') }}{{ ns.out }}",
    # ---- globals ----
    "{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M:%S %A %j') }}",
    "{{ dict(a=1, b=2) }} {{ dict(d, z=0) }} {{ namespace(a=1) }}",
    "{% set c = cycler('x', 'y') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}{% set j = joiner('+') %}{% for v in l %}{{ j() }}{{ v }}{% endfor %}",
    "{% if messages[0].role == 'system' %}{{ raise_exception('no system role: ' ~ messages[0].content|trim) }}{% endif %}",
    # ---- undefined behaviour ----
    "[{{ undefined_var }}] [{{ undefined_var|string }}] [{{ undefined_var|upper }}] {{ undefined_var == undefined_var }} {{ undefined_var|list }}",
    "{% if undefined_var %}yes{% else %}no{% endif %} {{ d.missing is defined }} {{ d.missing is none }} {{ (d.missing or 'or') }}",
    # ---- more whitespace corners ----
    "{{ 'a' }}  {% if t %}b{% endif %}",
    "x\n\u00a0 {% if t %}nbsp-indented{% endif %}",
    "{% if t -%}\n\n  a\n{%- endif %}",
    "a\n  {#- comment -#}\n  b",
    "{% for v in l %}{{ v }}{% if not loop.last %},\n{% endif %}{% endfor %}",
    "<{%- for v in l -%} {{ v }} {%- endfor -%}>",
    "  {%- if t %}a{% endif %}",
    "\n\n{% if t %}\n\n{% endif %}\n\n",
    "{% if t %}   \n{% endif %}x",
    "{% set x %}\n  a\n{% endset %}[{{ x }}]",
    "{% macro m() -%}\n   body   \n{%- endmacro %}[{{ m() }}]",
    "{% if t %}a{% else %}\n  b\n{% endif %}",
    "a{%- raw %}  b  {% endraw -%}  c",
    # ---- more printing ----
    "{{ 1e22 }} {{ 1.5e-10 }} {{ 123456.789 }} {{ 0.1 * 3 }} {{ 'nan'|float }} {{ 'inf'|float }} {{ '-inf'|float }} {{ 100.0 / 3 }} {{ 2.0 ** 60 }} {{ 5e-324 }}",
    "{{ {1: 'a', 2.5: none, (1, 2): [True]} }} {{ [(1, 'a'), ()] }}",
    "{{ ['\\x00', '\\u200d', '\\t', 'é', '\\x7f', '\\u2028'] }}",
    "{{ [\"a'b\", 'a\"b', 'a\\'b\"c'] }}",
    "{{ -0.0 }} {{ 0.0 == -0.0 }} {{ 1/3 }} {{ 10**15 * 1.0 }} {{ 10**16 * 1.0 }} {{ 9007199254740993 }}",
    # ---- more filters ----
    "{{ d|join(',') }} {{ l|map('string')|first }} {{ []|sum }} {{ [1.5, 2]|sum }} {{ [0.1, 0.2]|sum }}",
    "{{ '  -3 '|int }} {{ '1e5'|float }} {{ '-0x1A'|int(0, 16) }} {{ '0b101'|int(0, 2) }} {{ '12abc'|int }} {{ true|float }} {{ -2.5|round }} {{ -3.5|round }} {{ 0.5|round }}",
    "{{ 'Hello'|replace('', '-') }} {{ 'aaa'|replace('aa', 'b') }} {{ 'abc'|center(2) }} {{ 'ab'|indent(2, true) }}",
    "{{ items|selectattr('tags', 'defined')|map(attribute='name')|join }} {{ items|selectattr('tags')|list|length }}",
    "{{ items|map(attribute='v')|select('ge', 2)|list }} {{ items|sort(attribute='v', reverse=true)|map(attribute='name')|join }}",
    "{{ [3, 1.5, 2]|sort }} {{ [3, 1.5, 2]|max }} {{ ['b', 'a']|min }} {{ [[2, 1], [1, 2]]|sort }} {{ [(2, 'b'), (1, 'z')]|sort|first }}",
    "{{ 'a b  c'|wordcount }} {{ 'héllo wörld'|wordcount }} {{ 'x'|truncate(5) }} {{ 'one two three four five six'|truncate(10, leeway=0) }}",
    "{{ d|dictsort|map('first')|join }} {{ d|items|map('last')|list|length }}",
    "{{ messages|map(attribute='role')|unique|list }}",
    # ---- more methods ----
    "{{ 'ÀÉÎ'.lower() }} {{ 'àéî'.upper() }} {{ 'élan vital'.title() }} {{ 'ÉLAN'.capitalize() }} {{ 'Привет мир'.upper() }} {{ 'ΑΒΓ'.lower() }}",
    "{{ 'a-b_c d'.title() }} {{ \"they're bill's\".title() }} {{ '1st place'.title() }}",
    "{{ 'abcabc'.find('c', 3) }} {{ 'abcabc'.rfind('a', 0, 3) }} {{ 'abc'.index('b') }} {{ 'a.b.c'.count('.') }} {{ ''.count('') }}",
    "{{ 'x'.join('abc') }} {{ ''.join([]) }} {{ 'a\\tb c'.split() }} {{ 'a  b'.split(' ') }} {{ '  '.split() }} {{ 'abc'.split('b', 0) }}",
    "{{ 'text'.startswith('') }} {{ 'text'.endswith(('xt', 'q')) }} {{ 'text'.startswith('ex', 1) }}",
    "{{ '{:>5}|{:<5}|{:^5}|{:05.1f}|{:+d}|{!r}'.format('a', 'b', 'c', 3.14159, 5, 'q') }}",
    "{{ d.get('c').get('k') }} {{ d.c.get('zz', []) }} {{ d['c'].items()|list }}",
    # ---- more control flow ----
    "{% for a, b in d.items() if b is number %}{{ a }}{% endfor %} {% for x in 'abc' if x != 'b' %}{{ loop.index }}{{ x }}{% endfor %}",
    "{% for i in range(3) %}{% for j in range(3) %}{% if j > i %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}",
    "{% for v in l %}{% set v = v * 10 %}{{ v }} {% endfor %}{{ v }}",
    "{% set v = 'outer' %}{% for v in l %}{% endfor %}{{ v }}",
    "{% for v in l %}{% macro show() %}[{{ v }}]{% endmacro %}{{ show() }}{% endfor %}",
    "{% macro outer(x) %}{% macro inner(y) %}{{ x }}{{ y }}{% endmacro %}{{ inner(2) }}{% endmacro %}{{ outer(1) }}",
    "{% macro m(a, b=2, c=none) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m(1, c=3) }} {{ m(*[4, 5]) }} {{ m(**{'a': 6}) }}",
    "{% macro m() %}{{ caller('x', 'y') }}{% endmacro %}{% call(a, b='dflt', c='c') m() %}{{ a }}{{ b }}{{ c }}{% endcall %}",
    "{% set x = undefined_var | default('fallback') %}{{ x }} {% set y = (none or 0) or 'last' %}{{ y }}",
    "{{ not 1 in [1] }} {{ not (1 in [1]) }} {{ 1 is not string }} {{ -1 is number }} {{ (1, 2) is sequence }}",
    "{{ l[none:2] }} {{ l[-100:100] }} {{ l[2:0:-1] }} {{ s[-3:] }} {{ 'a' * true }} {{ [1] * false }}",
    "{% if messages|selectattr('role', 'eq', 'system')|list %}has system{% endif %} {% if e %}x{% elif l %}elif{% endif %}",
    "{% set ns = namespace(found=false) %}{% for m in messages %}{% if m.role == 'assistant' and not ns.found %}{% set ns.found = loop.index0 %}{% endif %}{% endfor %}{{ ns.found }}",
    "{{ messages[1:]|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(' / ') }}",
    "{% for item in [1, [2, [3, [4]]]] recursive %}{% if item is iterable %}{{ loop(item) }}{% else %}{{ item }}@{{ loop.depth0 }} {% endif %}{% endfor %}",
    "{% with %}{% set inner = 1 %}{{ inner }}{% endwith %}[{{ inner }}]",
    "{% set a, b = 'xy' %}{{ b }}{{ a }} {% set (c, d), e = [[1, 2], 3] %}{{ c }}{{ d }}{{ e }}",
    "{{ range(3)|map('string')|join('-') }} {{ range(1, 10, 4)|list }} {{ range(-3)|list }}",
    # ---- errors Jinja2 raises ----
    "{{ undefined_var.attr }}",
    "{{ undefined_var + 1 }}",
    "{{ 'a' + 1 }}",
    "{{ 'a' + n }}",
    "{{ 1 + 'a' }}",
    "{{ 1 < 'a' }}",
    "{{ 1 / 0 }}",
    "{{ 1 // 0 }}",
    "{{ 1 % 0 }}",
    "{{ 'x' in n }}",
    "{% for v in n %}{% endfor %}",
    "{% for v in i %}{% endfor %}",
    "{% for a, b in [[1]] %}{% endfor %}",
    "{{ n|length }}",
    "{{ undefined_fn() }}",
    "{{ l() }}",
    "{{ [1].append(2) }}",
    "{{ (l|map('string'))|tojson }}",
    "{{ l|map('string')|length }}",
    "{{ undefined_var|tojson }}",
    "{% set x.y = 1 %}",
    "{{ raise_exception('custom failure') }}",
    "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}",
    "{% macro m(a) %}{% endmacro %}{{ m(b=2) }}",
    "{{ l[::0] }}",
    "{{ 'abc'.split('') }}",
    "{{ [1, 'a']|sort }}",
    "{{ {[1]: 2} }}",
    # ---- syntax errors ----
    "{% if t %}unclosed",
    "{% for %}{% endfor %}",
    "{{ 1 + }}",
    "{{ 'unterminated }}",
    "{% endif %}",
    "{% if t %}{% endfor %}",
    "{{ x | nosuchfilter }}",
    "{{ x is nosuchtest }}",
    "{% break %}",
    "{# unclosed comment",
    "{{ (1 }}",
    "{{ 1) }}",
    "{% include 'other.jinja' %}",
    "{{ 010 }}",
    "{% for x in l if loop.index > 1 %}{% endfor %}",
    "{{ 'a' < none }}",
    "{{ (1, 2) < [1, 2] }}",
    "{{ l|map('nosuchfilter')|list }}",
    "{{ l|select('nosuchtest')|list }}",
    "{{ l|last|attr }}",
    "{{ none|list }}",
    "{{ 5|items|list }}",
    "{{ 'x'|int(base=1) }}",
    "{{ (l|map('string'))[0] }}",
    "{{ {}.pop('x') }}",
    "{% macro m(a, a) %}{% endmacro %}",
    "{% set 1 = 2 %}",
    "{{ 1 if }}",
    "{{ a.0.1 }}",
]


def render(source):
    try:
        return {"expected": ENV.from_string(source).render(**CONTEXT)}
    except jinja2.exceptions.TemplateSyntaxError as error:
        return {"error": {"type": "TemplateSyntaxError", "message": str(error)}}
    except Exception as error:  # what Python raises is golden only in kind: an engine just has to fail
        return {"error": {"type": type(error).__name__, "message": str(error)}}


def main():
    cases = []
    for source in SNIPPETS:
        case = {"template": source}
        case.update(render(source))
        cases.append(case)
    out = {
        "generator": "tests/unit/chat/make_conformance.py with Jinja2 %s, Python %s" % (
            jinja2.__version__, sys.version.split()[0]),
        "now": "2024-07-26T09:05:03",
        "context": CONTEXT,
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jinja_conformance.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote %d cases to %s" % (len(cases), path))


if __name__ == "__main__":
    main()
