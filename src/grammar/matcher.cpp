#include "grammar/matcher.h"

#include <algorithm>

namespace ferrum::grammar {

uint32_t StackArena::push(uint32_t parent, StateId return_state) {
  const uint32_t depth = nodes_[parent].depth + 1;
  if (depth > kMaxDepth) return UINT32_MAX;
  const uint64_t key = (static_cast<uint64_t>(parent) << 32) | return_state;
  const auto [it, inserted] = index_.try_emplace(key, static_cast<uint32_t>(nodes_.size()));
  if (inserted) nodes_.push_back({return_state, parent, depth});
  return it->second;
}

void StackArena::clear() {
  nodes_.assign(1, Node{});
  index_.clear();
}

Stepper::Stepper(const Automaton& automaton, StackArena& stacks)
    : automaton_(automaton),
      stacks_(stacks),
      seen_epoch_(automaton.states.size(), 0),
      seen_stack_(automaton.states.size(), 0) {}

bool Stepper::closure(Thread start, std::vector<Thread>& out) {
  if (++epoch_ == 0) {  // the epoch wrapped: old marks could look current
    std::fill(seen_epoch_.begin(), seen_epoch_.end(), 0);
    epoch_ = 1;
  }
  seen_more_.clear();
  bool popped_bottom = false;
  work_.clear();
  work_.push_back(start);
  while (!work_.empty()) {
    const Thread thread = work_.back();
    work_.pop_back();
    if (seen_epoch_[thread.state] != epoch_) {
      seen_epoch_[thread.state] = epoch_;
      seen_stack_[thread.state] = thread.stack;
    } else if (seen_stack_[thread.state] == thread.stack ||
               std::find(seen_more_.begin(), seen_more_.end(), thread.key()) != seen_more_.end()) {
      continue;
    } else {
      seen_more_.push_back(thread.key());
    }
    const AutomatonState& state = automaton_.states[thread.state];
    if (state.edges_end > state.edges_begin) out.push_back(thread);
    for (uint32_t i = state.eps_begin; i < state.eps_end; ++i) work_.push_back({automaton_.epsilons[i], thread.stack});
    if (state.call_rule != kNoRule) {
      const uint32_t pushed = stacks_.push(thread.stack, state.call_return);
      if (pushed != UINT32_MAX) work_.push_back({automaton_.rule_start[state.call_rule], pushed});
    }
    if (state.rule_end) {
      if (thread.stack == StackArena::kBottom) {
        popped_bottom = true;
      } else {
        work_.push_back({stacks_.top(thread.stack), stacks_.pop(thread.stack)});
      }
    }
  }
  return popped_bottom;
}

bool Stepper::step(std::span<const Thread> from, uint8_t byte, std::vector<Thread>& out) {
  out.clear();
  bool popped_bottom = false;
  for (const Thread& thread : from) {
    const AutomatonState& state = automaton_.states[thread.state];
    for (uint32_t i = state.edges_begin; i < state.edges_end; ++i) {
      const ByteEdge& edge = automaton_.edges[i];
      if (byte >= edge.lo && byte <= edge.hi) popped_bottom |= closure({edge.target, thread.stack}, out);
    }
  }
  sort_unique(out);
  return popped_bottom;
}

void sort_unique(std::vector<Thread>& threads) {
  if (threads.size() < 2) return;
  std::sort(threads.begin(), threads.end(), [](const Thread& a, const Thread& b) { return a.key() < b.key(); });
  threads.erase(std::unique(threads.begin(), threads.end()), threads.end());
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Automaton> automaton)
    : automaton_(std::move(automaton)), stepper_(*automaton_, stacks_) {
  accepting_ = stepper_.closure({automaton_->rule_start[automaton_->root], StackArena::kBottom}, threads_);
  sort_unique(threads_);
}

bool GrammarMatcher::accept(std::string_view bytes) {
  std::vector<Thread> current = threads_;
  bool accepting = accepting_;
  for (size_t i = 0; i < bytes.size(); ++i) {
    accepting = stepper_.step(current, static_cast<uint8_t>(bytes[i]), scratch_);
    // Ending the root is an answer only at the very end: bytes past it are rejected.
    if (scratch_.empty() && !(accepting && i + 1 == bytes.size())) return false;
    current.swap(scratch_);
  }
  threads_ = std::move(current);
  accepting_ = accepting;
  return true;
}

}  // namespace ferrum::grammar
