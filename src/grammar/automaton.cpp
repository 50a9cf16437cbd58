#include "grammar/automaton.h"

#include <functional>

namespace ferrum::grammar {
namespace {

struct DraftState {
  std::vector<ByteEdge> edges;
  std::vector<StateId> eps;
  uint32_t call_rule = kNoRule;
  StateId call_return = 0;
  bool rule_end = false;
};

class Builder {
 public:
  explicit Builder(const Grammar& grammar) : grammar_(grammar) {}

  StateId add() {
    states_.emplace_back();
    return static_cast<StateId>(states_.size() - 1);
  }

  // Adds the NFA of `expr` starting at `from`; returns its end state.
  Expected<StateId> build(const Expr& expr, StateId from) {
    switch (expr.kind) {
      case Expr::Kind::kLiteral: {
        StateId current = from;
        for (unsigned char c : expr.literal) {
          const StateId next = add();
          states_[current].edges.push_back({c, c, next});
          current = next;
        }
        return current;
      }
      case Expr::Kind::kByteSet: {
        const StateId next = add();
        for (unsigned lo = 0; lo < 256;) {
          if (!expr.bytes.contains(static_cast<uint8_t>(lo))) {
            ++lo;
            continue;
          }
          unsigned hi = lo;
          while (hi + 1 < 256 && expr.bytes.contains(static_cast<uint8_t>(hi + 1))) ++hi;
          states_[from].edges.push_back({static_cast<uint8_t>(lo), static_cast<uint8_t>(hi), next});
          lo = hi + 1;
        }
        return next;
      }
      case Expr::Kind::kSequence: {
        StateId current = from;
        for (const Expr& part : expr.children) {
          FERRUM_ASSIGN_OR_RETURN(current, build(part, current));
        }
        return current;
      }
      case Expr::Kind::kChoice: {
        const StateId end = add();
        for (const Expr& alternative : expr.children) {
          const StateId start = add();
          states_[from].eps.push_back(start);
          FERRUM_ASSIGN_OR_RETURN(StateId alt_end, build(alternative, start));
          states_[alt_end].eps.push_back(end);
        }
        return end;
      }
      case Expr::Kind::kRepeat: {
        const size_t optional_copies = expr.max == kUnbounded ? 1 : expr.max - expr.min;
        FERRUM_CHECK(expr.min <= expr.max && expr.min + optional_copies <= kMaxRepeatCopies, ErrorCode::kLimitExceeded,
                     "a repetition {", expr.min, ",",
                     expr.max == kUnbounded ? std::string("inf") : std::to_string(expr.max),
                     "} expands past the grammar limit of ", kMaxRepeatCopies, " copies");
        StateId current = from;
        for (size_t i = 0; i < expr.min; ++i) {
          FERRUM_ASSIGN_OR_RETURN(current, build(expr.children[0], current));
        }
        if (expr.max == kUnbounded) {
          const StateId loop = add();
          states_[current].eps.push_back(loop);
          FERRUM_ASSIGN_OR_RETURN(StateId body_end, build(expr.children[0], loop));
          states_[body_end].eps.push_back(loop);
          return loop;
        }
        const StateId end = add();
        states_[current].eps.push_back(end);
        for (size_t i = 0; i < optional_copies; ++i) {
          FERRUM_ASSIGN_OR_RETURN(current, build(expr.children[0], current));
          states_[current].eps.push_back(end);
        }
        return end;
      }
      case Expr::Kind::kRule: {
        FERRUM_CHECK(expr.rule < grammar_.rule_count(), ErrorCode::kInternal, "rule reference ", expr.rule,
                     " past the ", grammar_.rule_count(), " rules");
        const StateId call = add();
        const StateId back = add();
        states_[from].eps.push_back(call);
        states_[call].call_rule = expr.rule;
        states_[call].call_return = back;
        return back;
      }
    }
    return make_error(ErrorCode::kInternal, "unknown expression kind");
  }

  std::vector<DraftState>& states() { return states_; }

 private:
  const Grammar& grammar_;
  std::vector<DraftState> states_;
};

// Rules that may end without consuming a byte, by fixed point over the call structure.
std::vector<bool> nullable_rules(const Automaton& automaton) {
  const size_t rules = automaton.rule_start.size();
  std::vector<bool> nullable(rules, false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t rule = 0; rule < rules; ++rule) {
      if (nullable[rule]) continue;
      std::vector<StateId> work{automaton.rule_start[rule]};
      std::vector<bool> seen(automaton.states.size(), false);
      while (!work.empty()) {
        const StateId s = work.back();
        work.pop_back();
        if (seen[s]) continue;
        seen[s] = true;
        const AutomatonState& state = automaton.states[s];
        if (state.rule_end) {
          nullable[rule] = true;
          changed = true;
          break;
        }
        for (uint32_t i = state.eps_begin; i < state.eps_end; ++i) work.push_back(automaton.epsilons[i]);
        if (state.call_rule != kNoRule && nullable[state.call_rule]) work.push_back(state.call_return);
      }
    }
  }
  return nullable;
}

// A rule that reaches a call of itself before consuming a byte would make the matcher's closure
// grow stacks forever.
Status check_left_recursion(const Automaton& automaton, const Grammar& grammar) {
  const std::vector<bool> nullable = nullable_rules(automaton);
  const size_t rules = automaton.rule_start.size();
  std::vector<std::vector<RuleId>> first_calls(rules);
  for (size_t rule = 0; rule < rules; ++rule) {
    std::vector<StateId> work{automaton.rule_start[rule]};
    std::vector<bool> seen(automaton.states.size(), false);
    while (!work.empty()) {
      const StateId s = work.back();
      work.pop_back();
      if (seen[s]) continue;
      seen[s] = true;
      const AutomatonState& state = automaton.states[s];
      for (uint32_t i = state.eps_begin; i < state.eps_end; ++i) work.push_back(automaton.epsilons[i]);
      if (state.call_rule != kNoRule) {
        first_calls[rule].push_back(state.call_rule);
        if (nullable[state.call_rule]) work.push_back(state.call_return);
      }
    }
  }
  // Depth-first search for a cycle in the "calls before consuming" graph.
  std::vector<int> color(rules, 0);  // 0 new, 1 on the path, 2 done
  std::function<Status(RuleId)> visit = [&](RuleId rule) -> Status {
    color[rule] = 1;
    for (RuleId callee : first_calls[rule]) {
      FERRUM_CHECK(color[callee] != 1, ErrorCode::kInvalidArgument, "grammar rule '", grammar.rule_name(callee),
                   "' is left-recursive (it can call itself before matching a byte)");
      if (color[callee] == 0) FERRUM_TRY(visit(callee));
    }
    color[rule] = 2;
    return ok();
  };
  for (RuleId rule = 0; rule < rules; ++rule) {
    if (color[rule] == 0) FERRUM_TRY(visit(rule));
  }
  return ok();
}

}  // namespace

Expected<Automaton> compile(const Grammar& grammar) {
  FERRUM_CHECK(grammar.root() < grammar.rule_count(), ErrorCode::kInvalidArgument, "the grammar has no root rule");
  Builder builder(grammar);
  Automaton automaton;
  automaton.root = grammar.root();
  automaton.rule_start.resize(grammar.rule_count());
  for (RuleId rule = 0; rule < grammar.rule_count(); ++rule) {
    FERRUM_CHECK(grammar.defined(rule), ErrorCode::kInternal, "grammar rule '", grammar.rule_name(rule),
                 "' is declared but never defined");
    const StateId start = builder.add();
    automaton.rule_start[rule] = start;
    FERRUM_ASSIGN_OR_RETURN(StateId end, builder.build(grammar.rule_body(rule), start));
    builder.states()[end].rule_end = true;
  }
  for (DraftState& draft : builder.states()) {
    AutomatonState state;
    state.edges_begin = static_cast<uint32_t>(automaton.edges.size());
    automaton.edges.insert(automaton.edges.end(), draft.edges.begin(), draft.edges.end());
    state.edges_end = static_cast<uint32_t>(automaton.edges.size());
    state.eps_begin = static_cast<uint32_t>(automaton.epsilons.size());
    automaton.epsilons.insert(automaton.epsilons.end(), draft.eps.begin(), draft.eps.end());
    state.eps_end = static_cast<uint32_t>(automaton.epsilons.size());
    state.call_rule = draft.call_rule;
    state.call_return = draft.call_return;
    state.rule_end = draft.rule_end;
    automaton.states.push_back(state);
  }
  FERRUM_TRY(check_left_recursion(automaton, grammar));
  return automaton;
}

}  // namespace ferrum::grammar
