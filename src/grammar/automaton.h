// A grammar compiled into a byte-level pushdown automaton: each rule becomes a small NFA (Thompson
// construction) whose states have byte-range edges, epsilon edges, and at most one call edge into
// another rule's NFA with the state to return to. Running it (GrammarMatcher) keeps a set of threads,
// each an NFA state plus a stack of return states; the call structure is what lets JSON nest.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "grammar/grammar.h"

namespace ferrum::grammar {

using StateId = uint32_t;
inline constexpr uint32_t kNoRule = UINT32_MAX;

struct ByteEdge {
  uint8_t lo = 0, hi = 0;
  StateId target = 0;
};

struct AutomatonState {
  uint32_t edges_begin = 0, edges_end = 0;  // into Automaton::edges
  uint32_t eps_begin = 0, eps_end = 0;      // into Automaton::epsilons
  uint32_t call_rule = kNoRule;             // entering this state calls that rule ...
  StateId call_return = 0;                  // ... and continues here when it ends
  bool rule_end = false;                    // the end of its rule: return to the caller
};

struct Automaton {
  std::vector<AutomatonState> states;
  std::vector<ByteEdge> edges;
  std::vector<StateId> epsilons;
  std::vector<StateId> rule_start;  // per rule
  RuleId root = 0;

  bool has_byte_edges(StateId s) const { return states[s].edges_end > states[s].edges_begin; }
};

// Fails for undefined rules, repetitions past kMaxRepeatCopies, and rules that can call themselves
// without consuming a byte (left recursion), naming the rule.
Expected<Automaton> compile(const Grammar& grammar);

}  // namespace ferrum::grammar
