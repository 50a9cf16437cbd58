// Builds the grammar constraint a request needs: response_format json_object / json_schema, or a
// tool_choice that forces a call (the named function's arguments, or "required": an array of
// {"name", "parameters"} over the offered tools). Compiled grammars and their token-mask caches are
// kept by schema text, so repeated requests with one schema skip compilation and start with warm
// masks; the vocabulary trie is built once, on first use.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "engine/engine.h"
#include "grammar/token_masks.h"
#include "server/chat_request.h"
#include "tokenizer/vocab.h"

namespace ferrum::server {

class StructuredOutput {
 public:
  StructuredOutput(const tokenizer::Vocab& vocab, std::unordered_set<int32_t> end_tokens);

  // nullptr when the request is unconstrained. Unsupported schema keywords are a 400 naming them.
  ApiResult<std::shared_ptr<TokenConstraint>> for_response_format(const ResponseFormat& format);
  ApiResult<std::shared_ptr<TokenConstraint>> for_tool_choice(const ChatRequest& request);

  static constexpr size_t kMaxCachedGrammars = 64;

 private:
  std::shared_ptr<const grammar::TokenTrie> trie();
  // The mask cache for `key`, compiling with `build` on a miss.
  ApiResult<std::shared_ptr<grammar::GrammarTokenMasks>> masks(const std::string& key,
                                                               const std::function<Expected<grammar::Grammar>()>& build,
                                                               const std::string& param);
  std::shared_ptr<TokenConstraint> constraint(std::shared_ptr<grammar::GrammarTokenMasks> masks) const;

  const tokenizer::Vocab& vocab_;
  const std::unordered_set<int32_t> end_tokens_;
  std::mutex mutex_;
  std::shared_ptr<const grammar::TokenTrie> trie_;
  std::list<std::string> recent_;  // least recently used last
  std::unordered_map<std::string, std::shared_ptr<grammar::GrammarTokenMasks>> cache_;
};

}  // namespace ferrum::server
