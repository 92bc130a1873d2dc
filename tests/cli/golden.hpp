// SPDX-License-Identifier: Apache-2.0
// Golden transcripts of CLI runs: commands, their output with run-specific parts (paths,
// times, pids, dates) replaced by placeholders, compared with files under tests/cli/golden.
// ONECOPY_UPDATE_GOLDEN=1 rewrites the files instead of comparing.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace onecopy::test {

class transcript {
 public:
  /// Replacements applied to every output, in order: (regex, placeholder).
  explicit transcript(std::vector<std::pair<std::string, std::string>> replacements)
      : replacements_(std::move(replacements)) {}

  /// Runs `onecopy args…` with env and appends the normalized result. Returns the raw result.
  run_result run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    std::vector<std::string> argv{built("onecopy").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    run_result r = test::run(argv, env);
    text_ += "$ onecopy";
    for (const auto& a : args) text_ += " " + normalize(a);
    text_ += "\n" + normalize(r.out);
    if (!r.err.empty()) text_ += "[stderr]\n" + normalize(r.err);
    text_ += "[exit " + std::to_string(r.code) + "]\n\n";
    return r;
  }

  std::string normalize(std::string s) const {
    for (const auto& [pattern, placeholder] : replacements_) s = std::regex_replace(s, std::regex(pattern), placeholder);
    return s;
  }

  /// Compares with golden/<name> (or writes it when ONECOPY_UPDATE_GOLDEN is set).
  void check(const std::string& name) const {
    const std::string path = std::string(GOLDEN_DIR) + "/" + name;
    if (std::getenv("ONECOPY_UPDATE_GOLDEN") != nullptr) {
      std::ofstream(path) << text_;
      return;
    }
    std::ifstream in(path);
    ASSERT_TRUE(in) << "missing golden file " << path << " (run with ONECOPY_UPDATE_GOLDEN=1)";
    std::stringstream want;
    want << in.rdbuf();
    EXPECT_EQ(text_, want.str()) << "golden " << path << " differs; if the change is intended, rerun "
                                 << "with ONECOPY_UPDATE_GOLDEN=1 and review the diff";
  }

 private:
  std::vector<std::pair<std::string, std::string>> replacements_;
  std::string text_;
};

}  // namespace onecopy::test
