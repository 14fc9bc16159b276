#include <jobcarbon/cli/settings.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <jobcarbon/testing/temp_dir.hpp>
#include <jobcarbon/testing/unprivileged.hpp>

namespace jobcarbon::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr const char* kSource = "/etc/jobcarbon/config.toml";

// Return the message of the std::runtime_error that parsing TEXT throws ("" and a test failure
// when it does not throw).
std::string error_of(std::string_view text) {
  try {
    parse_settings(text, kSource);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return "";
}

TEST(ParseSettings, FlatFileSetsEveryKeyAndRecordsWhere) {
  const Settings s = parse_settings(R"(# site defaults
country = "DE"
dataset = "eea-2016-study"
pue = 1.2
ledger = "/var/lib/jobcarbon/ledger.db"
interval = 0.5
exclusive = true
account = "physics"
powercap-root = "/sys/class/powercap"
hwmon-root = "/sys/class/hwmon"
nvml-lib = "libnvidia-ml.so.1"
)",
                                    kSource);
  EXPECT_EQ(s.country, "DE");
  EXPECT_EQ(s.dataset, "eea-2016-study");
  EXPECT_EQ(s.pue, 1.2);
  EXPECT_EQ(s.ledger, "/var/lib/jobcarbon/ledger.db");
  EXPECT_EQ(s.interval_s, 0.5);
  EXPECT_EQ(s.exclusive, true);
  EXPECT_EQ(s.account, "physics");
  EXPECT_EQ(s.powercap_root, "/sys/class/powercap");
  EXPECT_EQ(s.hwmon_root, "/sys/class/hwmon");
  EXPECT_EQ(s.nvml_lib, "libnvidia-ml.so.1");
  EXPECT_FALSE(s.zone || s.intensity_kg_per_kwh || s.intensity_series);
  EXPECT_EQ(s.origin.size(), 10u);
  EXPECT_EQ(s.origin.at("country"), "/etc/jobcarbon/config.toml:2");
  EXPECT_EQ(s.origin.at("pue"), "/etc/jobcarbon/config.toml:4");
  EXPECT_EQ(s.origin.at("nvml-lib"), "/etc/jobcarbon/config.toml:11");
  // The other three ways to choose the intensity (one per file).
  EXPECT_EQ(parse_settings("zone = \"US-CAL-CISO\"", kSource).zone, "US-CAL-CISO");
  EXPECT_EQ(parse_settings("intensity = 0.441", kSource).intensity_kg_per_kwh, 0.441);
  const Settings series = parse_settings("\nintensity-series = \"/srv/grid/de.csv\"", kSource);
  EXPECT_EQ(series.intensity_series, "/srv/grid/de.csv");
  EXPECT_EQ(series.origin.at("intensity-series"), "/etc/jobcarbon/config.toml:2");
}

TEST(ParseSettings, EmptyFileSetsNothing) {
  EXPECT_EQ(parse_settings("", kSource), Settings{});
  EXPECT_EQ(parse_settings("# only a comment\n\n", kSource), Settings{});
}

TEST(ParseSettings, JobcarbonTableIsTheSameAsFlatKeys) {
  const Settings wrapped = parse_settings("[jobcarbon]\npue = 1.5\ncountry = \"RO\"\n", "f");
  EXPECT_EQ(wrapped.pue, 1.5);
  EXPECT_EQ(wrapped.country, "RO");
  EXPECT_EQ(wrapped.origin.at("pue"), "f:2");
  const Settings dotted = parse_settings("jobcarbon.pue = 1.5\njobcarbon.country = \"RO\"\n", "f");
  EXPECT_EQ(dotted.pue, 1.5);
  EXPECT_EQ(dotted.country, "RO");
}

TEST(ParseSettings, IntegersAreAcceptedForNumbers) {
  const Settings s = parse_settings("pue = 1\nintensity = 0\ninterval = 3600\n", kSource);
  EXPECT_EQ(s.pue, 1.0);
  EXPECT_EQ(s.intensity_kg_per_kwh, 0.0);
  EXPECT_EQ(s.interval_s, 3600.0);
}

TEST(ParseSettings, RangeBoundsAreInclusive) {
  EXPECT_EQ(parse_settings("pue = 3.0", kSource).pue, 3.0);
  EXPECT_EQ(parse_settings("intensity = 2.0", kSource).intensity_kg_per_kwh, 2.0);
  EXPECT_EQ(parse_settings("interval = 0.01", kSource).interval_s, 0.01);
}

TEST(ParseSettingsErrors, UnknownKeySuggestsTheClosest) {
  EXPECT_EQ(error_of("pue = 1.1\ncontry = \"DE\"\n"),
            "/etc/jobcarbon/config.toml:2: unknown key 'contry' (did you mean 'country'?)");
  EXPECT_EQ(error_of("powercap_root = \"/sys\""),
            "/etc/jobcarbon/config.toml:1: unknown key 'powercap_root' (did you mean "
            "'powercap-root'?)");
  EXPECT_EQ(error_of("PUE = 1.2"),
            "/etc/jobcarbon/config.toml:1: unknown key 'PUE' (did you mean 'pue'?)");
  // The C++ field names, with their unit suffixes, point at the file's key.
  EXPECT_EQ(error_of("\n\nintensity_kg_per_kwh = 0.3"),
            "/etc/jobcarbon/config.toml:3: unknown key 'intensity_kg_per_kwh' (did you mean "
            "'intensity'?)");
  EXPECT_EQ(error_of("interval_s = 1"),
            "/etc/jobcarbon/config.toml:1: unknown key 'interval_s' (did you mean 'interval'?)");
}

TEST(ParseSettingsErrors, UnknownKeyWithNothingCloseListsTheKeys) {
  EXPECT_EQ(error_of("colour = \"green\""),
            "/etc/jobcarbon/config.toml:1: unknown key 'colour' (known keys: country, zone, "
            "dataset, intensity, pue, ledger, interval, exclusive, account, powercap-root, "
            "hwmon-root, nvml-lib, intensity-series, store-command, agent-socket, "
            "metrics-address, state-dir, counter-interval, power-interval, "
            "running-update-interval, journal-interval, cluster, node-name, slurm-user, "
            "cgroup-root, proc-root)");
}

TEST(ParseSettingsErrors, StoreCommandIsOneOfThreeWords) {
  for (const char* mode : {"full", "name", "none"}) {
    EXPECT_EQ(
        parse_settings(fmt::format("store-command = \"{}\"", mode), "/etc/x.toml").store_command,
        mode);
  }
  EXPECT_EQ(error_of("store-command = \"hash\""),
            "/etc/jobcarbon/config.toml:1: key 'store-command': 'hash' is not one of "
            "full|name|none");
}

TEST(ParseSettingsErrors, UnknownKeyInsideTheTableAndUnknownTables) {
  EXPECT_EQ(error_of("[jobcarbon]\n\ncontry = \"DE\""),
            "/etc/jobcarbon/config.toml:3: unknown key 'jobcarbon.contry' (did you mean "
            "'country'?)");
  EXPECT_THAT(error_of("[carbon]\npue = 1.2"),
              StartsWith("/etc/jobcarbon/config.toml:1: unknown key 'carbon' (known keys: "));
  EXPECT_THAT(error_of("[jobcarbon.sensors]\nx = 1"),
              StartsWith("/etc/jobcarbon/config.toml:1: unknown key 'jobcarbon.sensors' ("));
}

TEST(ParseSettingsErrors, WrongType) {
  EXPECT_EQ(error_of("country = \"DE\"\n\npue = \"1.2\""),
            "/etc/jobcarbon/config.toml:3: key 'pue': expected a number, found a string");
  EXPECT_EQ(error_of("exclusive = \"yes\""),
            "/etc/jobcarbon/config.toml:1: key 'exclusive': expected true or false, found a "
            "string");
  EXPECT_EQ(error_of("exclusive = 1"),
            "/etc/jobcarbon/config.toml:1: key 'exclusive': expected true or false, found an "
            "integer");
  EXPECT_EQ(error_of("country = 276"),
            "/etc/jobcarbon/config.toml:1: key 'country': expected a string, found an integer");
  EXPECT_EQ(error_of("ledger = [\"/a\"]"),
            "/etc/jobcarbon/config.toml:1: key 'ledger': expected a string, found an array");
  EXPECT_EQ(error_of("interval = 1979-05-27"),
            "/etc/jobcarbon/config.toml:1: key 'interval': expected a number, found a date");
  EXPECT_EQ(error_of("jobcarbon = 5"),
            "/etc/jobcarbon/config.toml:1: key 'jobcarbon': expected a table of settings, found "
            "an integer");
}

TEST(ParseSettingsErrors, OutOfRange) {
  EXPECT_EQ(error_of("pue = 0.9"),
            "/etc/jobcarbon/config.toml:1: key 'pue': 0.9 is out of range: must be between 1.0 "
            "(no overhead) and 3.0");
  EXPECT_EQ(error_of("\npue = 3.01"),
            "/etc/jobcarbon/config.toml:2: key 'pue': 3.01 is out of range: must be between 1.0 "
            "(no overhead) and 3.0");
  EXPECT_EQ(error_of("intensity = 441"),
            "/etc/jobcarbon/config.toml:1: key 'intensity': 441 is out of range: must be between "
            "0 and 2 kg CO2 per kWh (is it in g/kWh?)");
  EXPECT_THAT(error_of("intensity = -0.1"),
              StartsWith("/etc/jobcarbon/config.toml:1: key 'intensity': -0.1 is out of range"));
  EXPECT_EQ(error_of("interval = 0"),
            "/etc/jobcarbon/config.toml:1: key 'interval': 0 is out of range: must be between "
            "0.01 and 3600 seconds");
  EXPECT_THAT(error_of("interval = 0.009"), HasSubstr("key 'interval': 0.009 is out of range"));
  EXPECT_THAT(error_of("interval = -1"), HasSubstr("key 'interval': -1 is out of range"));
  EXPECT_THAT(error_of("interval = 3600.5"), HasSubstr("key 'interval': 3600.5 is out of range"));
  EXPECT_THAT(error_of("pue = nan"), HasSubstr(":1: key 'pue': nan is out of range"));
  EXPECT_THAT(error_of("pue = inf"), HasSubstr(":1: key 'pue': inf is out of range"));
  EXPECT_THAT(error_of("interval = 9223372036854775807"),
              HasSubstr("key 'interval': 9223372036854775807 is out of range"));
}

TEST(ParseSettingsErrors, SyntaxErrorGivesLineAndColumn) {
  // Line 3 "pue = 1.": the number is cut short; column 9 is the newline where a digit must be.
  EXPECT_THAT(error_of("country = \"DE\"\n# pue next\npue = 1.\n"),
              StartsWith("/etc/jobcarbon/config.toml:3:9: TOML syntax error: "));
  // A key repeated in the same table is a TOML error (column 7: the value of the second one).
  EXPECT_THAT(error_of("pue = 1.2\npue = 1.3\n"),
              MatchesRegex("/etc/jobcarbon/config\\.toml:2:7: TOML syntax error: .*'pue'.*"));
  // An unterminated string: the end of the file, line 1 column 14.
  EXPECT_THAT(error_of("country = \"DE"),
              StartsWith("/etc/jobcarbon/config.toml:1:14: TOML syntax error: "));
  EXPECT_THAT(error_of("pue = 1.2 x"),
              StartsWith("/etc/jobcarbon/config.toml:1:11: TOML syntax error: "));
}

TEST(ParseSettingsErrors, KeySetInBothLayouts) {
  EXPECT_EQ(error_of("pue = 1.1\n[jobcarbon]\npue = 1.2\n"),
            "/etc/jobcarbon/config.toml:3: key 'pue' is set twice (also at line 1)");
}

TEST(ParseSettingsErrors, OneFileChoosesOneIntensitySource) {
  EXPECT_EQ(error_of("country = \"DE\"\npue = 1.1\nintensity = 0.3\n"),
            "/etc/jobcarbon/config.toml:3: key 'intensity': conflicts with 'country' at line 1: "
            "country, zone, intensity and intensity-series each choose the carbon intensity; "
            "set one");
  EXPECT_THAT(error_of("zone = \"DE\"\n[jobcarbon]\ncountry = \"DE\"\n"),
              StartsWith("/etc/jobcarbon/config.toml:3: key 'country': conflicts with 'zone' at "
                         "line 1:"));
  EXPECT_THAT(error_of("intensity-series = \"/a.csv\"\nintensity = 0.3\n"),
              StartsWith("/etc/jobcarbon/config.toml:2: key 'intensity': conflicts with "
                         "'intensity-series' at line 1:"));
  // dataset only picks among the table's figures: it goes with country or zone.
  const Settings s = parse_settings("country = \"DE\"\ndataset = \"eea-2016-study\"\n", kSource);
  EXPECT_EQ(s.country, "DE");
  EXPECT_EQ(s.dataset, "eea-2016-study");
}

TEST(ParseSettingsErrors, BadStrings) {
  EXPECT_EQ(error_of("country = \"\""),
            "/etc/jobcarbon/config.toml:1: key 'country': must not be empty");
  EXPECT_EQ(error_of("account = \"a\\u0000b\""),
            "/etc/jobcarbon/config.toml:1: key 'account': contains a NUL character");
  EXPECT_EQ(error_of("hwmon-root = \"sys/class/hwmon\""),
            "/etc/jobcarbon/config.toml:1: key 'hwmon-root': 'sys/class/hwmon' is not an "
            "absolute path (paths in configuration files must start with '/'; '~' is not "
            "expanded)");
  EXPECT_THAT(error_of("intensity-series = \"~/grid.csv\""),
              StartsWith("/etc/jobcarbon/config.toml:1: key 'intensity-series': '~/grid.csv' is "
                         "not an absolute path"));
  EXPECT_THAT(error_of("nvml-lib = \"lib/libnvidia-ml.so.1\""),
              HasSubstr(":1: key 'nvml-lib': 'lib/libnvidia-ml.so.1' is not an absolute path "
                        "(paths in configuration files must start with '/'; '~' is not "
                        "expanded), or a bare library name"));
  EXPECT_THAT(error_of("ledger = \"ledger.db\""),
              HasSubstr(":1: key 'ledger': 'ledger.db' is not an absolute path (paths in "
                        "configuration files must start with '/'; '~' is not expanded), or a "
                        "URL such as sqlite:///PATH"));
  EXPECT_THAT(error_of("ledger = \"://x\""), HasSubstr("key 'ledger': '://x' is not an absolute"));
}

TEST(ParseSettings, LibraryNamesAndLedgerUrls) {
  EXPECT_EQ(parse_settings("nvml-lib = \"libnvidia-ml.so.1\"", kSource).nvml_lib,
            "libnvidia-ml.so.1");
  EXPECT_EQ(parse_settings("nvml-lib = \"/opt/fake/libnvidia-ml.so\"", kSource).nvml_lib,
            "/opt/fake/libnvidia-ml.so");
  EXPECT_EQ(parse_settings("ledger = \"postgresql://db.example/jobcarbon\"", kSource).ledger,
            "postgresql://db.example/jobcarbon");
  EXPECT_EQ(parse_settings("ledger = \"sqlite:///var/lib/l.db\"", kSource).ledger,
            "sqlite:///var/lib/l.db");
}

// A fresh directory under /tmp (dir_), removed at the end of the test.
class SettingsFiles : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, std::string_view text) {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }

  testing::TempDir temp_{"settings_test."};
  const fs::path dir_ = temp_.path();
};

TEST_F(SettingsFiles, LoadsAFile) {
  const fs::path p = write("config.toml", "\npue = 1.3\n");
  const Settings s = load_settings_file(p);
  EXPECT_EQ(s.pue, 1.3);
  EXPECT_EQ(s.origin.at("pue"), p.string() + ":2");
}

TEST_F(SettingsFiles, ErrorsNameTheFile) {
  const fs::path p = write("config.toml", "pue = 0.5\n");
  try {
    load_settings_file(p);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), p.string() +
                                         ":1: key 'pue': 0.5 is out of range: must be "
                                         "between 1.0 (no overhead) and 3.0");
  }
}

TEST_F(SettingsFiles, MissingFileIsAnErrorOnlyWhenExplicit) {
  const fs::path p = dir_ / "absent.toml";
  EXPECT_EQ(load_settings_file(p, IfMissing::kEmpty), Settings{});
  try {
    load_settings_file(p);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), p.string() + ": configuration file not found");
  }
}

TEST_F(SettingsFiles, NotARegularFileOrTooLargeIsAnErrorEvenAtADefaultLocation) {
  fs::create_directories(dir_ / "dir.toml");
  try {
    load_settings_file(dir_ / "dir.toml", IfMissing::kEmpty);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), (dir_ / "dir.toml").string() + ": not a regular file");
  }
  const fs::path big = write("big.toml", std::string((1 << 20) + 1, '#'));
  try {
    load_settings_file(big, IfMissing::kEmpty);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              big.string() + ": larger than 1 MiB; not a configuration file");
  }
  // Exactly 1 MiB of comments is still a configuration file.
  EXPECT_EQ(load_settings_file(write("max.toml", std::string(1 << 20, '#'))), Settings{});
}

// Tests run as root, who can read anything: the unreadable case runs in a child that drops to
// nobody (65534) and writes the error message back through a pipe.
TEST_F(SettingsFiles, UnreadableFileIsAnErrorEvenAtADefaultLocation) {
  const fs::path p = write("config.toml", "pue = 1.2\n");
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(p, fs::perms::owner_read);
  const testing::UnprivilegedRun run = testing::run_unprivileged([&] {
    std::string message = "loaded without error";
    try {
      load_settings_file(p, IfMissing::kEmpty);
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    return message;
  });
  ASSERT_NE(run.wait_status, -1);
  EXPECT_TRUE(WIFEXITED(run.wait_status) && WEXITSTATUS(run.wait_status) == 0);
  const std::string& got = run.output;
  EXPECT_EQ(got, "cannot read configuration file " + p.string() + ": Permission denied");
}

TEST(Merge, FieldsSetInOverWinAndKeepTheirOrigin) {
  Settings base = parse_settings("pue = 1.5\ncountry = \"DE\"\nexclusive = true\n", "base");
  Settings over = parse_settings("\npue = 1.1\nexclusive = false\n", "over");
  const Settings m = merge(base, over);
  EXPECT_EQ(m.pue, 1.1);
  EXPECT_EQ(m.country, "DE");
  EXPECT_EQ(m.exclusive, false);  // false is a value, not "unset"
  EXPECT_EQ(m.origin.at("pue"), "over:2");
  EXPECT_EQ(m.origin.at("country"), "base:2");
  EXPECT_EQ(m.origin.at("exclusive"), "over:3");
  // Flags carry no origin: a value they override loses its file origin.
  Settings flags;
  flags.pue = 2.0;
  const Settings f = merge(m, flags);
  EXPECT_EQ(f.pue, 2.0);
  EXPECT_EQ(f.origin.count("pue"), 0u);
  EXPECT_EQ(f.origin.at("country"), "base:2");
  // Merging nothing changes nothing.
  EXPECT_EQ(merge(m, Settings{}), m);
}

TEST(Merge, ALaterIntensityChoiceReplacesTheEarlierOne) {
  const Settings site = parse_settings("country = \"DE\"\ndataset = \"ember\"\npue = 1.4\n", "etc");
  Settings flags;
  flags.intensity_kg_per_kwh = 0.2;
  const Settings m = merge(site, flags);
  EXPECT_EQ(m.intensity_kg_per_kwh, 0.2);
  EXPECT_FALSE(m.country.has_value());  // not a conflict: the flag replaced the site's choice
  EXPECT_EQ(m.origin.count("country"), 0u);
  EXPECT_EQ(m.dataset, "ember");  // the other keys stay
  EXPECT_EQ(m.pue, 1.4);
  const Settings user = parse_settings("zone = \"US-CAL-CISO\"\n", "user");
  const Settings z = merge(site, user);
  EXPECT_EQ(z.zone, "US-CAL-CISO");
  EXPECT_FALSE(z.country.has_value());
  EXPECT_EQ(z.origin.at("zone"), "user:1");
  // A source that sets none of the four leaves the earlier choice alone.
  EXPECT_EQ(merge(site, parse_settings("pue = 1.1", "user")).country, "DE");
}

TEST(DefaultConfigPaths, EtcThenXdgThenHome) {
  using P = std::vector<fs::path>;
  EXPECT_EQ(default_config_paths("/home/ada", "/xdg"),
            (P{"/etc/jobcarbon/config.toml", "/xdg/jobcarbon/config.toml"}));
  EXPECT_EQ(default_config_paths("/home/ada", ""),
            (P{"/etc/jobcarbon/config.toml", "/home/ada/.config/jobcarbon/config.toml"}));
  // A relative XDG_CONFIG_HOME is invalid (XDG base directory spec): ignored.
  EXPECT_EQ(default_config_paths("/home/ada", "xdg"),
            (P{"/etc/jobcarbon/config.toml", "/home/ada/.config/jobcarbon/config.toml"}));
  EXPECT_EQ(default_config_paths("", ""), (P{"/etc/jobcarbon/config.toml"}));
}

TEST_F(SettingsFiles, SystemThenUserThenFlags) {
  const fs::path etc = write("etc/config.toml", "pue = 1.5\ncountry = \"DE\"\ninterval = 2\n");
  const fs::path user = write("user/config.toml", "pue = 1.2\n");
  const std::vector<fs::path> defaults{etc, user, dir_ / "absent/config.toml"};
  const Settings files = load_configured_settings(std::nullopt, defaults);
  EXPECT_EQ(files.pue, 1.2);
  EXPECT_EQ(files.origin.at("pue"), user.string() + ":1");
  EXPECT_EQ(files.country, "DE");
  EXPECT_EQ(files.interval_s, 2.0);
  Settings flags;
  flags.interval_s = 0.25;
  const Settings all = merge(files, flags);
  EXPECT_EQ(all.interval_s, 0.25);
  EXPECT_EQ(all.pue, 1.2);
  EXPECT_EQ(all.country, "DE");
}

TEST_F(SettingsFiles, ExplicitFileReplacesTheDefaults) {
  const fs::path etc = write("etc/config.toml", "pue = 1.5\ncountry = \"DE\"\n");
  const fs::path mine = write("mine.toml", "zone = \"FR\"\n");
  const std::vector<fs::path> defaults{etc};
  const Settings s = load_configured_settings(mine, defaults);
  EXPECT_EQ(s.zone, "FR");
  EXPECT_FALSE(s.pue.has_value());
  EXPECT_FALSE(s.country.has_value());
  EXPECT_THROW(load_configured_settings(dir_ / "absent.toml", defaults), std::runtime_error);
}

TEST_F(SettingsFiles, ABadDefaultFileIsAnError) {
  const std::vector<fs::path> defaults{write("etc/config.toml", "pue = 1.5\n"),
                                       write("user/config.toml", "pue = \"x\"\n")};
  EXPECT_THROW(load_configured_settings(std::nullopt, defaults), std::runtime_error);
}

// Property: for any text, parse_settings returns Settings whose every field is valid, or throws
// std::runtime_error whose message starts with the source name; nothing else (no crash, no other
// exception type, no toml::parse_error escaping without the file name).
class MutatedDocuments {
 public:
  explicit MutatedDocuments(std::uint64_t seed) : rng_(seed) {}

  // Return the next document: random bytes (1 in 10), a string of TOML tokens (1 in 10), or a
  // valid configuration with one to four mutations.
  std::string next() {
    switch (pick(10)) {
      case 0:
        return garbage(pick(200));
      case 1:
        return tokens(pick(40));
      default:
        break;
    }
    std::string doc = kValid[pick(std::size(kValid))];
    const std::size_t mutations = 1 + pick(4);
    for (std::size_t i = 0; i < mutations; ++i) mutate(doc);
    return doc;
  }

 private:
  static constexpr const char* kValid[] = {
      "country = \"DE\"\npue = 1.2\ninterval = 1\nexclusive = false\n",
      "[jobcarbon]\nzone = \"US-CAL-CISO\"\nintensity = 0.25\nledger = \"/var/l.db\"\n",
      "dataset = \"eea-2016\"\naccount = \"ml\"\nnvml-lib = \"libnvidia-ml.so.1\"\n",
      "powercap-root = \"/sys/class/powercap\"\nhwmon-root = '/sys/class/hwmon'\n",
      "intensity-series = \"/srv/de.csv\"  # hourly\npue = 3\ninterval = 3600\n",
      "jobcarbon.pue = 1.0\njobcarbon.exclusive = true\n",
      "country = \"\"\"RO\"\"\"\nintensity = 2e0\n",
  };
  // "" stands for a NUL byte.
  static constexpr const char* kTokens[] = {"=",
                                            "[",
                                            "]",
                                            "[[",
                                            "]]",
                                            "{",
                                            "}",
                                            ",",
                                            ".",
                                            "\"",
                                            "'",
                                            "\"\"\"",
                                            "'''",
                                            "\n",
                                            " ",
                                            "#",
                                            "\\",
                                            "\\u0000",
                                            "\\U0010FFFF",
                                            "true",
                                            "false",
                                            "inf",
                                            "-inf",
                                            "nan",
                                            "+nan",
                                            "1e400",
                                            "-0",
                                            "0x7f",
                                            "0o17",
                                            "0b101",
                                            "1_000",
                                            "9223372036854775808",
                                            "1979-05-27T07:32:00Z",
                                            "07:32:00",
                                            "pue",
                                            "country",
                                            "jobcarbon",
                                            "interval",
                                            "intensity",
                                            "exclusive",
                                            "ledger",
                                            "nvml-lib",
                                            "\xff",
                                            "\xc3\xa9",
                                            "\r\n",
                                            "\t",
                                            ""};

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  std::string garbage(std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(pick(256));
    return s;
  }

  std::string tokens(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      const std::string_view t = kTokens[pick(std::size(kTokens))];
      s += t.empty() ? std::string(1, '\0') : std::string(t);
    }
    return s;
  }

  void mutate(std::string& doc) {
    const std::size_t at = pick(doc.size() + 1);
    switch (pick(6)) {
      case 0:  // replace a byte
        if (!doc.empty()) doc[pick(doc.size())] = static_cast<char>(pick(256));
        break;
      case 1:  // insert a token
        doc.insert(at, tokens(1));
        break;
      case 2:  // delete a range
        doc.erase(at, pick(8));
        break;
      case 3:  // truncate
        doc.resize(at);
        break;
      case 4:  // duplicate a range (repeated keys, nested brackets)
        doc.insert(at, doc.substr(pick(doc.size() + 1), pick(30)));
        break;
      default:  // insert a random integer (huge values, signs)
        doc.insert(at, std::to_string(static_cast<std::int64_t>(rng_())));
        break;
    }
  }

  std::mt19937_64 rng_;
};

// Return true when every set field of S is within the documented type and range.
bool valid(const Settings& s) {
  auto text = [](const std::optional<std::string>& v) {
    return !v || (!v->empty() && v->find('\0') == std::string::npos);
  };
  auto absolute = [](const std::optional<std::string>& v) { return !v || v->starts_with('/'); };
  return (!s.pue || (*s.pue >= 1.0 && *s.pue <= 3.0)) &&
         (!s.intensity_kg_per_kwh ||
          (*s.intensity_kg_per_kwh >= 0.0 && *s.intensity_kg_per_kwh <= 2.0)) &&
         (!s.interval_s || (*s.interval_s >= 0.01 && *s.interval_s <= 3600.0)) && text(s.country) &&
         text(s.zone) && text(s.dataset) && text(s.account) && text(s.ledger) && text(s.nvml_lib) &&
         text(s.powercap_root) && absolute(s.powercap_root) && absolute(s.hwmon_root) &&
         text(s.intensity_series) && absolute(s.intensity_series);
}

TEST(ParseSettingsProperty, AnyTextGivesValidSettingsOrARuntimeErrorNamingTheFile) {
  constexpr int kDocuments = 20000;
  MutatedDocuments docs(20240501);
  int accepted = 0;
  int rejected = 0;
  int failures = 0;
  for (int i = 0; i < kDocuments && failures < 5; ++i) {
    const std::string doc = docs.next();
    try {
      const Settings s = parse_settings(doc, "fuzz.toml");
      ++accepted;
      if (!valid(s)) {
        ++failures;
        ADD_FAILURE() << "accepted invalid settings from document " << i << ":\n" << doc;
      }
    } catch (const std::runtime_error& e) {
      ++rejected;
      if (!std::string_view(e.what()).starts_with("fuzz.toml:")) {
        ++failures;
        ADD_FAILURE() << "error without the file name: " << e.what() << "\ndocument " << i << ":\n"
                      << doc;
      }
    } catch (const std::exception& e) {
      ++failures;
      ADD_FAILURE() << "unexpected exception type: " << e.what() << "\ndocument " << i << ":\n"
                    << doc;
    } catch (...) {
      ++failures;
      ADD_FAILURE() << "non-std exception for document " << i << ":\n" << doc;
    }
  }
  // Both outcomes must be common, or the generator is not exercising the loader.
  EXPECT_GT(accepted, 500);
  EXPECT_GT(rejected, 10000);
  RecordProperty("accepted", accepted);
  RecordProperty("rejected", rejected);
  std::cout << "accepted " << accepted << ", rejected " << rejected << " of " << kDocuments << "\n";
}

TEST(SettingsKeys, EveryKeyIsDocumented) {
  std::ifstream in(fs::path(JOBCARBON_SOURCE_DIR) / "docs" / "configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing";
  std::stringstream doc;
  doc << in.rdbuf();
  ASSERT_EQ(settings_keys().size(), 26u);
  for (const std::string_view key : settings_keys()) {
    EXPECT_THAT(doc.str(), HasSubstr(fmt::format("| `{}` |", key))) << "no table row for " << key;
  }
}

}  // namespace
}  // namespace jobcarbon::cli
