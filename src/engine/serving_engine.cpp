#include "engine/serving_engine.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/log.h"
#include "engine/engine_core.h"

namespace ferrum {
namespace {

// One request's events, pushed by the step loop and popped by whoever holds the stream.
class EventChannel {
 public:
  explicit EventChannel(std::function<void()> on_event) : on_event_(std::move(on_event)) {}

  void push(RequestEvent&& event) {
    {
      std::lock_guard lock(mutex_);
      if (event.finished) finished_ = true;
      events_.push_back(std::move(event));
    }
    ready_.notify_one();
    if (on_event_) on_event_();  // outside the lock: the consumer may pop at once
  }

  std::optional<RequestEvent> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    RequestEvent event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

  bool finished() const {
    std::lock_guard lock(mutex_);
    return finished_;
  }

 private:
  const std::function<void()> on_event_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RequestEvent> events_;
  bool finished_ = false;
};

// What other threads hand the step loop: new requests, aborts, the stop signal.
struct Inbox {
  struct Submission {
    RequestId id = 0;
    EngineRequest request;
    std::shared_ptr<EventChannel> channel;
  };

  std::mutex mutex;
  std::condition_variable wake;
  std::vector<Submission> submissions;
  std::vector<RequestId> aborts;
  bool stop = false;

  void abort(RequestId id) {
    {
      std::lock_guard lock(mutex);
      aborts.push_back(id);
    }
    wake.notify_one();
  }
};

class Stream final : public RequestStream {
 public:
  Stream(RequestId id, std::shared_ptr<EventChannel> channel, std::weak_ptr<Inbox> inbox)
      : id_(id), channel_(std::move(channel)), inbox_(std::move(inbox)) {}

  ~Stream() override {
    if (channel_->finished()) return;
    if (std::shared_ptr<Inbox> inbox = inbox_.lock()) inbox->abort(id_);
  }

  RequestId id() const override { return id_; }
  std::optional<RequestEvent> next(std::chrono::milliseconds timeout) override { return channel_->pop(timeout); }

 private:
  RequestId id_;
  std::shared_ptr<EventChannel> channel_;
  std::weak_ptr<Inbox> inbox_;
};

class ServingEngine final : public Engine {
 public:
  ServingEngine(std::shared_ptr<ModelBundle> bundle, std::unique_ptr<EngineCore> core)
      : bundle_(std::move(bundle)), core_(std::move(core)), inbox_(std::make_shared<Inbox>()) {
    stats_ = core_->stats();
    loop_ = std::thread([this] { run(); });
  }

  ~ServingEngine() override {
    {
      std::lock_guard lock(inbox_->mutex);
      inbox_->stop = true;
    }
    inbox_->wake.notify_one();
    loop_.join();
  }

  Expected<std::unique_ptr<RequestStream>> submit(EngineRequest request) override {
    FERRUM_TRY(core_->validate(request));
    const RequestId id = next_id_.fetch_add(1);
    auto channel = std::make_shared<EventChannel>(request.on_event);
    {
      std::lock_guard lock(inbox_->mutex);
      inbox_->submissions.push_back({id, std::move(request), channel});
    }
    inbox_->wake.notify_one();
    return std::unique_ptr<RequestStream>(new Stream(id, std::move(channel), inbox_));
  }

  void abort(RequestId id) override { inbox_->abort(id); }

  EngineStats stats() const override {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

  size_t max_context() const override { return core_->max_context(); }

 private:
  void run() {
    std::vector<Inbox::Submission> submissions;
    std::vector<RequestId> aborts;
    for (;;) {
      {
        std::unique_lock lock(inbox_->mutex);
        inbox_->wake.wait(lock, [&] {
          return inbox_->stop || !inbox_->submissions.empty() || !inbox_->aborts.empty() || core_->has_work();
        });
        if (inbox_->stop) break;
        submissions.swap(inbox_->submissions);
        aborts.swap(inbox_->aborts);
      }
      for (Inbox::Submission& submission : submissions) {
        std::shared_ptr<EventChannel> channel = submission.channel;
        Status added = core_->add_request(submission.id, std::move(submission.request),
                                          [channel](RequestEvent&& event) { channel->push(std::move(event)); });
        if (!added) {
          RequestEvent event;
          event.finished = true;
          event.error = added.error();
          channel->push(std::move(event));
        }
      }
      submissions.clear();
      for (RequestId id : aborts) core_->abort(id);
      aborts.clear();
      if (core_->has_work()) {
        Status stepped = core_->step();
        if (!stepped) FERRUM_LOG_WARN("engine step failed: ", stepped.error().to_string());
      }
      std::lock_guard lock(stats_mutex_);
      stats_ = core_->stats();
    }
    core_->abort_all();
  }

  std::shared_ptr<ModelBundle> bundle_;
  std::unique_ptr<EngineCore> core_;
  std::shared_ptr<Inbox> inbox_;
  std::atomic<RequestId> next_id_{1};
  mutable std::mutex stats_mutex_;
  EngineStats stats_;
  std::thread loop_;
};

}  // namespace

Expected<std::unique_ptr<Engine>> create_engine(std::shared_ptr<ModelBundle> bundle, const EngineOptions& options) {
  FERRUM_CHECK(bundle && bundle->model, ErrorCode::kInvalidArgument, "create_engine: no model");
  const tokenizer::Vocab* vocab = bundle->tokenizer ? &bundle->tokenizer->vocab() : nullptr;
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<EngineCore> core,
                          EngineCore::create(*bundle->model, vocab, bundle->end_tokens, options));
  return std::unique_ptr<Engine>(new ServingEngine(std::move(bundle), std::move(core)));
}

}  // namespace ferrum
