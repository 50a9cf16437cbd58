#include "cli/arg_parser.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <sstream>

namespace ferrum::cli {
namespace {

std::vector<std::string> split_names(const std::string& names) {
  std::vector<std::string> result;
  std::stringstream stream(names);
  for (std::string name; std::getline(stream, name, ',');) result.push_back(name);
  return result;
}

}  // namespace

void ArgParser::add(std::string names, std::string help, bool takes_value, std::string value_name,
                    std::function<Status(std::string_view)> set) {
  options_.push_back(Option{split_names(names), std::move(help), takes_value, std::move(set), std::move(value_name)});
}

void ArgParser::option(std::string names, std::string* out, std::string help) {
  add(std::move(names), std::move(help), true, "S", [out](std::string_view value) {
    *out = value;
    return ok();
  });
}

void ArgParser::option(std::string names, std::optional<std::string>* out, std::string help) {
  add(std::move(names), std::move(help), true, "S", [out](std::string_view value) {
    *out = std::string(value);
    return ok();
  });
}

void ArgParser::option(std::string names, std::vector<std::string>* out, std::string help) {
  add(std::move(names), std::move(help), true, "S", [out](std::string_view value) {
    out->emplace_back(value);
    return ok();
  });
}

void ArgParser::flag(std::string names, bool* out, std::string help) {
  add(std::move(names), std::move(help), false, "", [out](std::string_view) {
    *out = true;
    return ok();
  });
}

void ArgParser::positional(std::string name, std::string* out, std::string help, bool required) {
  positionals_.push_back(
      Positional{std::move(name), std::move(help), required, [out](std::string_view value) { *out = value; }});
}

void ArgParser::rest(std::string name, std::vector<std::string>* out, std::string help) {
  rest_ =
      Positional{std::move(name), std::move(help), false, [out](std::string_view value) { out->emplace_back(value); }};
}

const ArgParser::Option* ArgParser::find(std::string_view name) const {
  for (const Option& option : options_) {
    for (const std::string& spelling : option.names) {
      if (spelling == name) return &option;
    }
  }
  return nullptr;
}

Status ArgParser::parse(int argc, char** argv) {
  size_t next_positional = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help_requested_ = true;
      return ok();
    }
    if (arg.size() > 1 && arg[0] == '-' && !(arg.size() > 1 && (std::isdigit(arg[1]) || arg[1] == '.'))) {
      std::string_view value;
      bool inline_value = false;
      if (const size_t equals = arg.find('='); arg.starts_with("--") && equals != std::string_view::npos) {
        value = arg.substr(equals + 1);
        arg = arg.substr(0, equals);
        inline_value = true;
      }
      const Option* option = find(arg);
      FERRUM_CHECK(option != nullptr, ErrorCode::kInvalidArgument, "unknown option '", arg, "'");
      if (!option->takes_value) {
        FERRUM_CHECK(!inline_value, ErrorCode::kInvalidArgument, arg, " takes no value");
        FERRUM_TRY(option->set(""));
        continue;
      }
      if (!inline_value) {
        FERRUM_CHECK(i + 1 < argc, ErrorCode::kInvalidArgument, arg, " needs a value");
        value = argv[++i];
      }
      FERRUM_TRY(option->set(value));
      continue;
    }
    if (next_positional < positionals_.size()) {
      positionals_[next_positional++].set(arg);
    } else if (rest_) {
      rest_->set(arg);
    } else {
      return make_error(ErrorCode::kInvalidArgument, "unexpected argument '", arg, "'");
    }
  }
  for (size_t i = next_positional; i < positionals_.size(); ++i) {
    FERRUM_CHECK(!positionals_[i].required, ErrorCode::kInvalidArgument, "missing ", positionals_[i].name);
  }
  return ok();
}

std::string ArgParser::usage() const {
  std::ostringstream out;
  out << "usage: " << command_ << " " << synopsis_ << "\n";
  for (const Positional& positional : positionals_) {
    out << "  " << positional.name << std::string(positional.name.size() < 26 ? 26 - positional.name.size() : 1, ' ')
        << positional.help << "\n";
  }
  if (rest_)
    out << "  " << rest_->name << std::string(26 - std::min<size_t>(25, rest_->name.size()), ' ') << rest_->help
        << "\n";
  for (const Option& option : options_) {
    std::string spelled;
    for (const std::string& name : option.names) spelled += (spelled.empty() ? "" : ", ") + name;
    if (option.takes_value) spelled += " " + option.value_name;
    out << "  " << spelled << std::string(spelled.size() < 26 ? 26 - spelled.size() : 1, ' ') << option.help << "\n";
  }
  return out.str();
}

int report_errors(std::string_view command, const std::function<Status()>& body) {
  Status status = body();
  if (status) return 0;
  std::fprintf(stderr, "ferrum %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               status.error().message().c_str());
  return status.error().code() == ErrorCode::kInvalidArgument ? 2 : 1;
}

}  // namespace ferrum::cli
