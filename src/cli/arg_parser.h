// A small declarative command-line parser shared by every subcommand, so the same flag spelled in
// `run`, `serve` and `bench` parses the same way and errors read alike:
//   ArgParser parser("ferrum run", "MODEL [options]");
//   parser.option("-n,--n-predict", &max_tokens, "tokens to generate");
//   FERRUM_TRY(parser.parse(argc, argv));
#pragma once

#include <charconv>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace ferrum::cli {

class ArgParser {
 public:
  ArgParser(std::string command, std::string synopsis) : command_(std::move(command)), synopsis_(std::move(synopsis)) {}

  // A flag taking a value. `names`: comma-separated spellings ("-t,--threads").
  void option(std::string names, std::string* out, std::string help);
  void option(std::string names, std::optional<std::string>* out, std::string help);
  // Numbers, checked whole: "12x" or an out-of-range value is an error naming the flag.
  template <class T>
  requires std::is_arithmetic_v<T>
  void option(std::string names, T* out, std::string help) {
    const std::string flag = names;
    add(std::move(names), std::move(help), true, std::is_integral_v<T> ? "N" : "X",
        [out, flag](std::string_view value) { return parse_number(flag, value, *out); });
  }
  template <class T>
  requires std::is_arithmetic_v<T>
  void option(std::string names, std::optional<T>* out, std::string help) {
    const std::string flag = names;
    add(std::move(names), std::move(help), true, std::is_integral_v<T> ? "N" : "X",
        [out, flag](std::string_view value) -> Status {
          T parsed{};
          FERRUM_TRY(parse_number(flag, value, parsed));
          *out = parsed;
          return ok();
        });
  }
  // Repeatable: each occurrence appends.
  void option(std::string names, std::vector<std::string>* out, std::string help);
  // A switch without a value.
  void flag(std::string names, bool* out, std::string help);
  // Positional arguments in order; optional ones must come last.
  void positional(std::string name, std::string* out, std::string help, bool required);
  // Remaining positional arguments.
  void rest(std::string name, std::vector<std::string>* out, std::string help);

  // Fails with a message naming the argument. `--help` sets help_requested() and succeeds.
  Status parse(int argc, char** argv);
  bool help_requested() const { return help_requested_; }
  std::string usage() const;

 private:
  struct Option {
    std::vector<std::string> names;
    std::string help;
    bool takes_value = true;
    std::function<Status(std::string_view)> set;
    std::string value_name;
  };
  struct Positional {
    std::string name;
    std::string help;
    bool required = false;
    std::function<void(std::string_view)> set;
  };
  void add(std::string names, std::string help, bool takes_value, std::string value_name,
           std::function<Status(std::string_view)> set);
  template <class T>
  static Status parse_number(std::string_view flag, std::string_view text, T& out) {
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    FERRUM_CHECK(ec == std::errc() && ptr == end, ErrorCode::kInvalidArgument, flag, ": '", text,
                 "' is not a valid number");
    return ok();
  }
  const Option* find(std::string_view name) const;

  std::string command_;
  std::string synopsis_;
  std::vector<Option> options_;
  std::vector<Positional> positionals_;
  std::optional<Positional> rest_;
  bool help_requested_ = false;
};

// Runs a command body and turns an Error into "ferrum <cmd>: <message>" on stderr and exit status 1.
int report_errors(std::string_view command, const std::function<Status()>& body);

}  // namespace ferrum::cli
