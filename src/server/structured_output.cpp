#include "server/structured_output.h"

#include "grammar/automaton.h"
#include "grammar/grammar_constraint.h"
#include "grammar/json_grammar.h"

namespace ferrum::server {

using grammar::Expr;
using grammar::JsonGrammarBuilder;

StructuredOutput::StructuredOutput(const tokenizer::Vocab& vocab, std::unordered_set<int32_t> end_tokens)
    : vocab_(vocab), end_tokens_(std::move(end_tokens)) {}

std::shared_ptr<const grammar::TokenTrie> StructuredOutput::trie() {
  std::lock_guard lock(mutex_);
  if (!trie_) trie_ = std::make_shared<const grammar::TokenTrie>(grammar::TokenTrie::from_vocab(vocab_));
  return trie_;
}

ApiResult<std::shared_ptr<grammar::GrammarTokenMasks>> StructuredOutput::masks(
    const std::string& key, const std::function<Expected<grammar::Grammar>()>& build, const std::string& param) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      recent_.remove(key);
      recent_.push_front(key);
      return it->second;
    }
  }
  Expected<grammar::Grammar> compiled = build();
  if (!compiled) return from_error(compiled.error(), param);
  Expected<grammar::Automaton> automaton = grammar::compile(*compiled);
  if (!automaton) return from_error(automaton.error(), param);
  auto masks = std::make_shared<grammar::GrammarTokenMasks>(
      std::make_shared<const grammar::Automaton>(std::move(*automaton)), trie());
  std::lock_guard lock(mutex_);
  if (cache_.size() >= kMaxCachedGrammars) {
    cache_.erase(recent_.back());
    recent_.pop_back();
  }
  if (cache_.emplace(key, masks).second) recent_.push_front(key);
  return masks;
}

std::shared_ptr<TokenConstraint> StructuredOutput::constraint(std::shared_ptr<grammar::GrammarTokenMasks> masks) const {
  return std::make_shared<grammar::GrammarConstraint>(std::move(masks), end_tokens_);
}

ApiResult<std::shared_ptr<TokenConstraint>> StructuredOutput::for_response_format(const ResponseFormat& format) {
  switch (format.kind) {
    case ResponseFormatKind::kText: return std::shared_ptr<TokenConstraint>();
    case ResponseFormatKind::kJsonObject: {
      FERRUM_API_ASSIGN_OR_RETURN(
          auto cached, masks(
                           "json_object", [] { return Expected<grammar::Grammar>(grammar::json_object_grammar()); },
                           "response_format"));
      return constraint(std::move(cached));
    }
    case ResponseFormatKind::kJsonSchema: {
      const Json& schema = format.schema;
      FERRUM_API_ASSIGN_OR_RETURN(
          auto cached, masks(
                           "schema:" + dump_json(schema), [&] { return grammar::json_schema_grammar(schema); },
                           "response_format.json_schema.schema"));
      return constraint(std::move(cached));
    }
  }
  return std::shared_ptr<TokenConstraint>();
}

ApiResult<std::shared_ptr<TokenConstraint>> StructuredOutput::for_tool_choice(const ChatRequest& request) {
  if (request.tool_choice.kind == ToolChoiceKind::kNamed) {
    const Json* parameters = request.tool_parameters(request.tool_choice.name);
    const Json schema = parameters ? *parameters : Json{{"type", "object"}};
    FERRUM_API_ASSIGN_OR_RETURN(auto cached, masks(
                                                 "arguments:" + dump_json(schema),
                                                 [&] { return grammar::json_schema_grammar(schema); }, "tools"));
    return constraint(std::move(cached));
  }
  if (request.tool_choice.kind != ToolChoiceKind::kRequired) return std::shared_ptr<TokenConstraint>();
  const auto build = [&]() -> Expected<grammar::Grammar> {
    JsonGrammarBuilder builder;
    std::vector<Expr> calls;
    for (size_t i = 0; i < request.tools.size(); ++i) {
      const Json& function = request.tools[i]["function"];
      Expr arguments = builder.any_object();
      if (function.contains("parameters")) {
        FERRUM_ASSIGN_OR_RETURN(arguments, builder.value(function["parameters"], function["parameters"],
                                                         "/tools/" + std::to_string(i) + "/function/parameters"));
      }
      calls.push_back(Expr::seq(
          {Expr::literal_text("{"), JsonGrammarBuilder::ws(), Expr::literal_text("\"name\":"), JsonGrammarBuilder::ws(),
           JsonGrammarBuilder::string_literal(function["name"].get<std::string>()), Expr::literal_text(","),
           JsonGrammarBuilder::ws(), Expr::literal_text("\"parameters\":"), JsonGrammarBuilder::ws(),
           std::move(arguments), JsonGrammarBuilder::ws(), Expr::literal_text("}")}));
    }
    const Expr call = builder.rule("tool_call", Expr::choice(std::move(calls)));
    const Expr separator = Expr::seq({Expr::literal_text(","), JsonGrammarBuilder::ws()});
    const size_t more_calls = request.parallel_tool_calls ? grammar::kUnbounded : 0;
    return builder.finish(Expr::seq({JsonGrammarBuilder::ws(), Expr::literal_text("["), JsonGrammarBuilder::ws(), call,
                                     Expr::repeat(Expr::seq({separator, call}), 0, more_calls),
                                     JsonGrammarBuilder::ws(), Expr::literal_text("]")}));
  };
  const std::string key =
      std::string(request.parallel_tool_calls ? "required:" : "required-one:") + dump_json(request.tools);
  FERRUM_API_ASSIGN_OR_RETURN(auto cached, masks(key, build, "tools"));
  return constraint(std::move(cached));
}

}  // namespace ferrum::server
