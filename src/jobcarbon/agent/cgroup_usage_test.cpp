#include <jobcarbon/agent/cgroup_usage.hpp>

#include <sys/stat.h>

#include <random>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <jobcarbon/testing/mutate.hpp>

#include <jobcarbon/testing/temp_dir.hpp>
#include <jobcarbon/testing/unprivileged.hpp>

namespace jobcarbon::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

const fs::path kFixtures = fs::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures/cgroup";
const fs::path kV2 = kFixtures / "v2";
const fs::path kV1 = kFixtures / "v1";
const std::string kScope1 = "/system.slice/node1_slurmstepd.scope";

// Return the error of e, or a text that fails any comparison with an error when e holds a value.
template <typename T>
std::string error_of(const std::expected<T, std::string>& e) {
  return e ? std::string("(no error)") : e.error();
}

void write(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  testing::write_file(p, content);
}

TEST(CgroupReader, ReadsSlurmJobAndStepsOnV2) {
  const CgroupReader reader(kV2);
  ASSERT_EQ(reader.version(), CgroupVersion::v2);
  const auto job = reader.read(kScope1 + "/job_42");
  ASSERT_TRUE(job) << job.error();
  EXPECT_EQ(job->cpu_time, 7543210us);  // usage_usec 7543210
  EXPECT_EQ(job->memory_bytes, 2147483648);
  const auto step = reader.read(kScope1 + "/job_42/step_0/");
  ASSERT_TRUE(step) << step.error();
  EXPECT_EQ(step->cpu_time, 7s);
  EXPECT_EQ(step->memory_bytes, 2000000000);
  // The root cgroup has cpu.stat but no memory.current.
  const auto root = reader.read("/");
  ASSERT_TRUE(root) << root.error();
  EXPECT_EQ(root->cpu_time, 98765432100us);
  EXPECT_EQ(root->memory_bytes, 0);
}

TEST(CgroupReader, MissingMemoryFileMeansUnknownNotError) {
  const auto u = CgroupReader(kV2).read(kScope1 + "/job_51");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->cpu_time, 250us);
  EXPECT_EQ(u->memory_bytes, 0);
}

TEST(CgroupReader, ErrorsNameTheFile) {
  const CgroupReader reader(kV2);
  EXPECT_EQ(error_of(reader.read(kScope1 + "/job_50")),
            (kV2 / "system.slice/node1_slurmstepd.scope/job_50/cpu.stat").string() +
                ": usage_usec is not a non-negative integer: '12x'");
  EXPECT_EQ(error_of(reader.read(kScope1 + "/job_77")),
            (kV2 / "system.slice/node1_slurmstepd.scope/job_77/cpu.stat").string() +
                ": No such file or directory");
  EXPECT_EQ(error_of(CgroupReader(kV1).read("/slurm/uid_1000/job_50")),
            (kV1 / "cpuacct/slurm/uid_1000/job_50/cpuacct.usage").string() +
                ": not a non-negative integer: '-5'");
}

TEST(CgroupReader, HybridRootWithEmptyUnifiedMountIsV1) {
  // v1/unified/cgroup.controllers exists (systemd's hybrid mode); only the root's counts.
  ASSERT_TRUE(fs::exists(kV1 / "unified/cgroup.controllers"));
  EXPECT_EQ(CgroupReader(kV1).version(), CgroupVersion::v1);
}

TEST(CgroupReader, ReadsV1ThroughTheCpuacctSymlink) {
  ASSERT_TRUE(fs::is_symlink(kV1 / "cpuacct"));
  const CgroupReader reader(kV1);
  EXPECT_EQ(reader.cpuacct_dir(), kV1 / "cpuacct");
  const auto job = reader.read("/slurm/uid_1000/job_42");
  ASSERT_TRUE(job) << job.error();
  EXPECT_EQ(job->cpu_time, 7543210000ns);
  EXPECT_EQ(job->memory_bytes, 2147483648);
  const auto other = reader.read("/slurm/uid_1001/job_43");  // no memory cgroup
  ASSERT_TRUE(other) << other.error();
  EXPECT_EQ(other->cpu_time, 1ms);
  EXPECT_EQ(other->memory_bytes, 0);
}

TEST(CgroupReader, ReadsV1WithoutSymlinks) {
  // Without systemd's links the joint hierarchy is only "cpu,cpuacct" (or "cpuacct,cpu"); on old
  // distributions cpuacct is mounted alone as "cpuacct".
  for (const std::string name : {"cpu,cpuacct", "cpuacct,cpu", "cpuacct"}) {
    testing::TempDir t;
    write(t / name / "slurm/uid_5/job_9/cpuacct.usage", "123456789\n");
    write(t / "memory/slurm/uid_5/job_9/memory.usage_in_bytes", "4096\n");
    const CgroupReader reader(t.path());
    EXPECT_EQ(reader.version(), CgroupVersion::v1) << name;
    const auto u = reader.read("/slurm/uid_5/job_9");
    ASSERT_TRUE(u) << u.error();
    EXPECT_EQ(u->cpu_time, 123456789ns) << name;
    EXPECT_EQ(u->memory_bytes, 4096) << name;
    EXPECT_EQ(find_slurm_job_cgroup(t.path(), "9"), "/slurm/uid_5/job_9") << name;
  }
}

TEST(CgroupReader, RootThatIsNeitherLayoutIsAnError) {
  testing::TempDir t;
  EXPECT_EQ(error_of(CgroupReader(t.path()).version()),
            t.path().string() +
                ": neither cgroup v2 (no cgroup.controllers) nor cgroup v1 (no cpuacct hierarchy)");
  EXPECT_EQ(error_of(CgroupReader(t / "absent").read("/")),
            (t / "absent").string() + ": No such file or directory");
}

TEST(CgroupReader, UnreadableFilesAreErrorsNotZero) {
  testing::TreeCopy t(kV2, "jobcarbon-cgroup-");
  const fs::path job = t / "system.slice/node1_slurmstepd.scope/job_42";
  const mode_t root_only = ::geteuid() == 0 ? 0400 : 0000;
  ASSERT_EQ(::chmod((job / "memory.current").c_str(), root_only), 0);
  const CgroupReader reader(t.path());
  const auto out = testing::run_unprivileged([&] {
    const auto u = reader.read(kScope1 + "/job_42");
    return u ? std::string("ok") : u.error();
  });
  EXPECT_EQ(out.output, (job / "memory.current").string() + ": Permission denied");
  ASSERT_EQ(::chmod((job / "cpu.stat").c_str(), root_only), 0);
  EXPECT_EQ(testing::run_unprivileged([&] {
              const auto u = reader.read(kScope1 + "/job_42");
              return u ? std::string("ok") : u.error();
            }).output,
            (job / "cpu.stat").string() + ": Permission denied");
}

TEST(CgroupPath, RefusesPathsThatCouldLeaveTheRoot) {
  for (const std::string good : {"/", "/a", "/a/b/", "/a/.../b", "/a/..b", "/..a", "/a/./b"}) {
    EXPECT_TRUE(check_cgroup_path(good)) << good;
  }
  EXPECT_EQ(error_of(check_cgroup_path("/a/../../etc")),
            "cgroup '/a/../../etc': must not contain '..' components");
  EXPECT_EQ(error_of(check_cgroup_path("job_1")),
            "cgroup 'job_1': must be an absolute path (start with '/')");
  EXPECT_EQ(error_of(check_cgroup_path(std::string("/a\0/../b", 8))),
            "cgroup path contains a NUL byte");
  for (const std::string bad : {"", "..", "/..", "/../", "/a/..", "a/b", " /a"}) {
    EXPECT_FALSE(check_cgroup_path(bad)) << bad;
  }
}

TEST(CgroupPath, NoCgroupStringReadsOutsideTheRoot) {
  // OUTSIDE/secret/cpu.stat holds a value that no file under ROOT holds; random strings built
  // from path pieces (including the secret's absolute path) must never read it.
  testing::TempDir t;
  write(t / "secret/cpu.stat", "usage_usec 424242\n");
  write(t / "root/cgroup.controllers", "cpu memory\n");
  write(t / "root/cpu.stat", "usage_usec 7\n");
  write(t / "root/ok/cpu.stat", "usage_usec 1\n");
  const CgroupReader reader(t / "root");
  const std::vector<std::string> pieces = {"/",
                                           "/",
                                           "/ok",
                                           "/.",
                                           "..",
                                           ".",
                                           "ok",
                                           "secret",
                                           "root",
                                           (t / "secret").string(),
                                           t.path().string()};
  std::mt19937_64 rng(4242);
  int ok = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string cgroup;
    for (auto n = 1 + rng() % 6; n > 0; --n) cgroup += pieces[rng() % pieces.size()];
    const auto u = reader.read(cgroup);
    if (!u) continue;
    ++ok;
    EXPECT_NE(u->cpu_time, 424242us) << cgroup;
  }

  EXPECT_GT(ok, 500);  // both outcomes must be common, or the test proves nothing
  EXPECT_LT(ok, 4500);
  // The pointed cases: a doubled slash would make the rest absolute for path's operator/.
  EXPECT_FALSE(reader.read("/" + (t / "secret").string()));
  EXPECT_FALSE(reader.read("/../secret"));
}

TEST(CgroupParse, CpuStatUsage) {
  const fs::path p = "/cg/cpu.stat";
  EXPECT_EQ(parse_cpu_stat_usage("usage_usec 5\nuser_usec 3\nsystem_usec 2\n", p), 5us);
  EXPECT_EQ(parse_cpu_stat_usage("nr_periods 0\nusage_usec 0", p), 0us);
  EXPECT_EQ(parse_cpu_stat_usage("usage_usec 9223372036854775\n", p),
            Duration(9223372036854775000));
  EXPECT_EQ(error_of(parse_cpu_stat_usage("user_usec 3\n", p)), "/cg/cpu.stat: no usage_usec line");
  EXPECT_EQ(error_of(parse_cpu_stat_usage("", p)), "/cg/cpu.stat: no usage_usec line");
  EXPECT_EQ(error_of(parse_cpu_stat_usage("usage_usec 1\nusage_usec 2\n", p)),
            "/cg/cpu.stat: more than one usage_usec line");
  EXPECT_EQ(error_of(parse_cpu_stat_usage("usage_usec 9223372036854776\n", p)),
            "/cg/cpu.stat: usage_usec out of range: '9223372036854776'");
  for (const std::string bad :
       {"usage_usec -1", "usage_usec +1", "usage_usec  1", "usage_usec 1 ", "usage_usec 1\r",
        "usage_usec ", "usage_usec 99999999999999999999", "usage_usec 0x10"}) {
    EXPECT_THAT(error_of(parse_cpu_stat_usage(bad, p)),
                StartsWith("/cg/cpu.stat: usage_usec is not a non-negative integer: '"))
        << bad;
  }
}

TEST(CgroupParse, Counter) {
  const fs::path p = "/cg/memory.current";
  EXPECT_EQ(parse_cgroup_counter("0\n", p), 0);
  EXPECT_EQ(parse_cgroup_counter("123", p), 123);
  EXPECT_EQ(parse_cgroup_counter("9223372036854775807\n", p), 9223372036854775807);
  EXPECT_EQ(error_of(parse_cgroup_counter("9223372036854775808\n", p)),
            "/cg/memory.current: not a non-negative integer: '9223372036854775808'");
  EXPECT_EQ(error_of(parse_cgroup_counter("1\n\n", p)),
            "/cg/memory.current: not a non-negative integer: '1\\x0a'");
  for (const std::string bad : {"", "\n", "-1\n", "+1\n", " 1\n", "1 \n", "0x10\n", "max\n"}) {
    EXPECT_FALSE(parse_cgroup_counter(bad, p)) << bad;
  }
}

TEST(CgroupParse, ProcCgroup) {
  const fs::path p = "/proc/7/cgroup";
  EXPECT_EQ(parse_proc_cgroup("0::/a/b\n", p), "/a/b");
  EXPECT_EQ(parse_proc_cgroup("0::/a:b:c", p), "/a:b:c");  // cgroup names may hold ':'
  EXPECT_EQ(parse_proc_cgroup("3:cpuacct:/v1\n0::/v2\n", p), "/v1");
  EXPECT_EQ(parse_proc_cgroup("0::/v2\n4:cpuacct,cpu:/v1\n", p), "/v1");
  EXPECT_EQ(parse_proc_cgroup("5:cpuacct_x:/no\n0::/v2\n", p), "/v2");
  EXPECT_EQ(error_of(parse_proc_cgroup("1:name=systemd:/x\n", p)),
            "/proc/7/cgroup: no cpuacct line and no cgroup v2 line (0::PATH)");
  EXPECT_EQ(error_of(parse_proc_cgroup("0::/x\nx::/a\n", p)),
            "/proc/7/cgroup: line 2 is not ID:CONTROLLERS:PATH: 'x::/a'");
  EXPECT_EQ(error_of(parse_proc_cgroup("0:/x\n", p)),
            "/proc/7/cgroup: line 1 is not ID:CONTROLLERS:PATH: '0:/x'");
  // Outside our cgroup namespace the kernel shows paths that climb: refuse them.
  EXPECT_EQ(error_of(parse_proc_cgroup("0::/../../x\n", p)),
            "/proc/7/cgroup: cgroup '/../../x': must not contain '..' components");
  EXPECT_FALSE(parse_proc_cgroup("0::\n", p));
  EXPECT_FALSE(parse_proc_cgroup("", p));
}

TEST(CgroupOfPid, ReadsV2V1AndHybridTasks) {
  const fs::path proc = kFixtures / "proc";
  EXPECT_EQ(cgroup_of_pid(proc, 100), kScope1 + "/job_42/step_0/user/task_0");
  EXPECT_EQ(cgroup_of_pid(proc, 200), "/slurm/uid_1000/job_42/step_0/task_0");
  EXPECT_EQ(cgroup_of_pid(proc, 300), "/slurm/uid_1000/job_42/step_batch");
  EXPECT_EQ(error_of(cgroup_of_pid(proc, 400)), (proc / "400/cgroup").string() +
                                                    ": cgroup was deleted: '" + kScope1 +
                                                    "/job_42/step_0 (deleted)'");
  EXPECT_EQ(error_of(cgroup_of_pid(proc, 999)),
            (proc / "999/cgroup").string() + ": No such file or directory");
  EXPECT_THAT(error_of(cgroup_of_pid(proc, 0)), HasSubstr("not a process id"));
  EXPECT_THAT(error_of(cgroup_of_pid(proc, -1)), HasSubstr("not a process id"));
}

TEST(CgroupSlurmJob, FindsJobsUnderSlurmParentsOnV2) {
  EXPECT_EQ(find_slurm_job_cgroup(kV2, "42"), kScope1 + "/job_42");
  EXPECT_EQ(find_slurm_job_cgroup(kV2, "43"), "/system.slice/node2_slurmstepd.scope/job_43");
  EXPECT_EQ(find_slurm_job_cgroup(kV2, "44", "node2"),
            "/system.slice/node2_slurmstepd.scope/job_44");
  EXPECT_THAT(error_of(find_slurm_job_cgroup(kV2, "44")),
              HasSubstr("job_44 found in several places: "));
  EXPECT_EQ(error_of(find_slurm_job_cgroup(kV2, "42", "node2")),
            (kV2 / "system.slice").string() + ": no Slurm cgroup job_42");
  // Decoys: job_99 in sshd.service, job_7 deep in user.slice.
  EXPECT_FALSE(find_slurm_job_cgroup(kV2, "99"));
  EXPECT_FALSE(find_slurm_job_cgroup(kV2, "7"));
  for (const std::string bad : {"", "4a", "-1", "42/../x", "*"}) {
    EXPECT_THAT(error_of(find_slurm_job_cgroup(kV2, bad)), HasSubstr("not a decimal number"))
        << bad;
  }
  // What it finds, the reader reads.
  const auto u = CgroupReader(kV2).read(*find_slurm_job_cgroup(kV2, "44", "node1"));
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->cpu_time, 5ms);
  EXPECT_EQ(u->memory_bytes, 8192);
}

TEST(CgroupSlurmJob, FindsJobInPlainSlurmstepdScope) {
  testing::TempDir t;
  write(t / "cgroup.controllers", "cpu memory\n");
  write(t / "system.slice/slurmstepd.scope/job_8/cpu.stat", "usage_usec 3\n");
  EXPECT_EQ(find_slurm_job_cgroup(t.path(), "8"), "/system.slice/slurmstepd.scope/job_8");
  EXPECT_EQ(find_slurm_job_cgroup(t.path(), "8", "nodeX"), "/system.slice/slurmstepd.scope/job_8");
}

TEST(CgroupSlurmJob, SymlinkedV1HierarchyCountsOnce) {
  // cpu, cpuacct and cpu,cpuacct are one hierarchy, and cpuset/freezer hold job_42 as well: it is
  // still found exactly once, relative to the hierarchy.
  EXPECT_EQ(find_slurm_job_cgroup(kV1, "42"), "/slurm/uid_1000/job_42");
  EXPECT_EQ(find_slurm_job_cgroup(kV1, "43"), "/slurm/uid_1001/job_43");
  EXPECT_EQ(error_of(find_slurm_job_cgroup(kV1, "44")),
            (kV1 / "cpuacct").string() + ": no Slurm cgroup job_44");
  const auto u = CgroupReader(kV1).read(*find_slurm_job_cgroup(kV1, "42"));
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->cpu_time, 7543210us);
}

TEST(CgroupSlurmJob, MultipleSlurmdOnV1) {
  testing::TempDir t;
  write(t / "cpu,cpuacct/slurm_n1/uid_0/job_5/cpuacct.usage", "1\n");
  write(t / "cpu,cpuacct/slurm_n2/uid_0/job_5/cpuacct.usage", "2\n");
  EXPECT_EQ(find_slurm_job_cgroup(t.path(), "5", "n2"), "/slurm_n2/uid_0/job_5");
  EXPECT_THAT(error_of(find_slurm_job_cgroup(t.path(), "5")), HasSubstr("several places"));
}

// Return TEXT with a few random bytes changed, inserted or removed, or cut short.
std::string mutate(const std::string& text, std::mt19937_64& rng) {
  static const std::string kBytes("0123456789 \n:/,-+._usecpuact\0\xff", 30);
  return testing::mutate_bytes(text, rng, kBytes, 5);
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

TEST(CgroupParseProperty, MutatedFilesNeverCrashAndErrorsNameTheFile) {
  const fs::path p = "/sys/fs/cgroup/x/f";
  const std::string prefix = p.string() + ": ";
  const std::string stat = "usage_usec 7543210\nuser_usec 7000000\nsystem_usec 543210\n";
  const std::string proc =
      "12:cpu,cpuacct:/slurm/uid_1000/job_42\n1:name=systemd:/system.slice/x\n0::/a/b\n";
  std::mt19937_64 rng(20261127);
  int ok_stat = 0, ok_counter = 0, ok_proc = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string s = mutate(stat, rng);
    if (const auto d = parse_cpu_stat_usage(s, p)) {
      ++ok_stat;
      // Accepted: one "usage_usec DIGITS" line holds exactly this value in µs.
      ASSERT_EQ(d->count() % 1000, 0) << s;
      EXPECT_NE(("\n" + s + "\n").find("\nusage_usec " + std::to_string(d->count() / 1000) + "\n"),
                std::string::npos)
          << s;
    } else {
      ASSERT_THAT(d.error(), StartsWith(prefix)) << s;
    }

    const std::string c = mutate("2147483648\n", rng);
    if (const auto v = parse_cgroup_counter(c, p)) {
      ++ok_counter;
      // Accepted exactly when the text is digits and at most one newline, and the value fits.
      const std::string digits = c.ends_with('\n') ? c.substr(0, c.size() - 1) : c;
      ASSERT_TRUE(all_digits(digits)) << c;
      EXPECT_EQ(std::to_string(*v),
                digits.substr(std::min(digits.find_first_not_of('0'), digits.size() - 1)));
    } else {
      ASSERT_THAT(v.error(), StartsWith(prefix)) << c;
      const std::string digits = c.ends_with('\n') ? c.substr(0, c.size() - 1) : c;
      if (all_digits(digits) && digits.size() < 19) ADD_FAILURE() << "refused " << c;
    }

    const std::string t = mutate(proc, rng);
    if (const auto g = parse_proc_cgroup(t, p)) {
      ++ok_proc;
      ASSERT_TRUE(check_cgroup_path(*g)) << t;
      EXPECT_NE(t.find(":" + *g), std::string::npos) << t;
    } else {
      ASSERT_THAT(g.error(), StartsWith(prefix)) << t;
    }

    // Random bytes: no structure at all.
    std::string r(rng() % 64, '\0');
    for (char& b : r) b = static_cast<char>(rng() % 256);
    if (const auto d = parse_cpu_stat_usage(r, p); !d) {
      ASSERT_THAT(d.error(), StartsWith(prefix));
    }
    if (const auto g = parse_proc_cgroup(r, p); !g) {
      ASSERT_THAT(g.error(), StartsWith(prefix));
    }
    if (const auto v = parse_cgroup_counter(r, p); !v) {
      ASSERT_THAT(v.error(), StartsWith(prefix));
    }
  }
  // Both outcomes must be common, or the test proves nothing.
  EXPECT_GT(ok_stat, 2000);
  EXPECT_LT(ok_stat, 18000);
  EXPECT_GT(ok_counter, 2000);
  EXPECT_LT(ok_counter, 18000);
  EXPECT_GT(ok_proc, 2000);
  EXPECT_LT(ok_proc, 18000);
}

}  // namespace
}  // namespace jobcarbon::agent
