// Running the pushdown automaton over bytes. A configuration is a set of threads; a thread is an
// automaton state that has byte edges plus a call stack of return states. Stacks are interned in a
// StackArena (equal stacks get equal ids), so threads compare as plain integer pairs and
// configurations stay small sorted vectors.
//
// Epsilon, call and return moves are taken eagerly (the closure) after every byte, so a
// configuration holds only threads waiting for a byte. Popping the bottom of a stack means the
// root rule ended (in a matcher) or that a walk left the rule it started in (in a mask walk, where
// the bottom stands for the unknown caller); Stepper reports it and the caller decides.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "grammar/automaton.h"

namespace ferrum::grammar {

struct Thread {
  StateId state = 0;
  uint32_t stack = 0;  // StackArena id; 0 is the bottom (empty stack)

  uint64_t key() const { return (static_cast<uint64_t>(state) << 32) | stack; }
  friend bool operator==(const Thread&, const Thread&) = default;
};

class StackArena {
 public:
  static constexpr uint32_t kBottom = 0;
  // Deeper stacks are dropped as dead threads: JSON nested this deep is an attack, not an answer.
  static constexpr uint32_t kMaxDepth = 512;

  StackArena() { clear(); }
  // The stack `parent` with `return_state` pushed; UINT32_MAX past kMaxDepth.
  uint32_t push(uint32_t parent, StateId return_state);
  StateId top(uint32_t stack) const { return nodes_[stack].return_state; }
  uint32_t pop(uint32_t stack) const { return nodes_[stack].parent; }
  size_t size() const { return nodes_.size(); }
  void clear();

 private:
  struct Node {
    StateId return_state = 0;
    uint32_t parent = 0;
    uint32_t depth = 0;
  };
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, uint32_t> index_;
};

// Closure and single-byte steps over one automaton, with reusable scratch space.
class Stepper {
 public:
  Stepper(const Automaton& automaton, StackArena& stacks);

  // Appends the waiting threads reachable from `start` without consuming a byte to `out`. Returns
  // true when a path popped the bottom of the stack.
  bool closure(Thread start, std::vector<Thread>& out);
  // The configuration after `byte` (sorted, unique) into `out`; returns whether the bottom was
  // popped after consuming it.
  bool step(std::span<const Thread> from, uint8_t byte, std::vector<Thread>& out);

 private:
  const Automaton& automaton_;
  StackArena& stacks_;
  std::vector<Thread> work_;
  std::vector<uint32_t> seen_epoch_;
  std::vector<uint32_t> seen_stack_;
  std::vector<uint64_t> seen_more_;  // threads on a state already seen with another stack
  uint32_t epoch_ = 0;
};

void sort_unique(std::vector<Thread>& threads);

// One parse in progress: the configuration after the bytes accepted so far.
class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const Automaton> automaton);

  // Advances over `bytes`; on a byte the grammar rejects, returns false and leaves the matcher as it was.
  bool accept(std::string_view bytes);
  // The bytes so far form a complete sentence of the grammar.
  bool accepting() const { return accepting_; }
  // More bytes may follow.
  bool can_continue() const { return !threads_.empty(); }

  std::span<const Thread> threads() const { return threads_; }
  const Automaton& automaton() const { return *automaton_; }
  StackArena& stacks() { return stacks_; }
  Stepper& stepper() { return stepper_; }

 private:
  std::shared_ptr<const Automaton> automaton_;
  StackArena stacks_;
  Stepper stepper_;
  std::vector<Thread> threads_;
  std::vector<Thread> scratch_;
  bool accepting_ = false;
};

}  // namespace ferrum::grammar
