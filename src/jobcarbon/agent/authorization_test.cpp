#include <jobcarbon/agent/authorization.hpp>

#include <map>

#include <gtest/gtest.h>

namespace jobcarbon::agent {
namespace {

constexpr uid_t kSlurm = 64030;
constexpr uid_t kAlice = 1001;
constexpr uid_t kBob = 1002;

const AgentPolicy kPolicy{kSlurm};

// pids 100, 101 belong to alice, 200 to bob, 1 to root; anything else does not exist.
// Job "7" is registered for alice.
AuthorityFacts facts() {
  return AuthorityFacts{[](pid_t pid) -> std::optional<uid_t> {
                          static const std::map<pid_t, uid_t> owners{
                              {100, kAlice}, {101, kAlice}, {200, kBob}, {1, 0}};
                          const auto it = owners.find(pid);
                          if (it == owners.end()) return std::nullopt;
                          return it->second;
                        },
                        [](const JobKey& key) -> std::optional<uid_t> {
                          if (key.job_id == "7") return kAlice;
                          return std::nullopt;
                        }};
}

PeerCred peer(uid_t uid) {
  return PeerCred{4321, uid, uid};
}

JobStart run_of(uid_t uid, std::vector<std::int64_t> pids) {
  return JobStart{
      JobKey{"c", "run-1", 5, "0"}, "alice", uid, "", {}, "", std::move(pids), false, {}, {}};
}

std::string verdict(const PeerCred& p, const Message& m) {
  const auto r = may(p, m, kPolicy, facts());
  return r ? "allowed" : r.error();
}

TEST(Authorization, RootAndTheSlurmUserMayRegisterAndEndAnyJob) {
  JobStart slurm_job{JobKey{"c", "99", 5, "batch"},
                     "bob",
                     kBob,
                     "physics",
                     {"GPU-1"},
                     "/slurm/job_99",
                     {},
                     true,
                     {},
                     {}};
  const JobEnd end{JobKey{"c", "99", 5, "batch"}, 0, 6};
  for (const uid_t who : {uid_t{0}, kSlurm}) {
    EXPECT_EQ(verdict(peer(who), slurm_job), "allowed");
    EXPECT_EQ(verdict(peer(who), end), "allowed");  // even a job the agent does not know
  }
  // Without a configured Slurm user, its uid is just an ordinary user.
  EXPECT_FALSE(may(peer(kSlurm), slurm_job, AgentPolicy{}, facts()));
}

TEST(Authorization, AnOrdinaryUserMayRegisterOnlyTheirOwnProcesses) {
  EXPECT_EQ(verdict(peer(kAlice), run_of(kAlice, {100, 101})), "allowed");
  EXPECT_EQ(verdict(peer(kAlice), run_of(kBob, {100})),
            "uid 1001 may not register a job for uid 1002");
  EXPECT_EQ(verdict(peer(kAlice), run_of(kAlice, {100, 200})),
            "pid 200 belongs to uid 1002, not to uid 1001");
  EXPECT_EQ(verdict(peer(kAlice), run_of(kAlice, {1})), "pid 1 belongs to uid 0, not to uid 1001");
  EXPECT_EQ(verdict(peer(kAlice), run_of(kAlice, {555})), "pid 555 does not exist");
  EXPECT_EQ(verdict(peer(kAlice), run_of(kAlice, {})),
            "a job registered by an ordinary user needs its pids");

  auto with_cgroup = run_of(kAlice, {100});
  with_cgroup.cgroup = "/slurm/job_99";
  EXPECT_EQ(verdict(peer(kAlice), with_cgroup),
            "only root or the Slurm user may register a cgroup");
  auto with_gpu = run_of(kAlice, {100});
  with_gpu.gpus = {"GPU-1"};
  EXPECT_EQ(verdict(peer(kAlice), with_gpu),
            "only root or the Slurm user may assign GPUs to a job");
  auto exclusive = run_of(kAlice, {100});
  exclusive.exclusive = true;
  EXPECT_EQ(verdict(peer(kAlice), exclusive),
            "only root or the Slurm user may register an exclusive job");
  auto account = run_of(kAlice, {100});
  account.account = "physics";
  EXPECT_EQ(verdict(peer(kAlice), account), "only root or the Slurm user may name an account");
}

TEST(Authorization, AnOrdinaryUserMayEndOnlyTheirOwnRegisteredJob) {
  const JobEnd seven{JobKey{"c", "7", 5, "0"}, 0, 6};
  const JobEnd eight{JobKey{"c", "8", 5, "0"}, 0, 6};
  EXPECT_EQ(verdict(peer(kAlice), seven), "allowed");
  EXPECT_EQ(verdict(peer(kBob), seven), "uid 1002 may not end job 7 of uid 1001");
  EXPECT_EQ(verdict(peer(kAlice), eight), "unknown job 8 step 0");
}

TEST(Authorization, AnyoneMayAskForStatusButSeesOnlyTheirJobs) {
  EXPECT_EQ(verdict(peer(kBob), StatusRequest{}), "allowed");
  const RunningJob alices{JobKey{"c", "7", 5, "0"}, "alice", kAlice, Microjoules(1), 0.0};
  EXPECT_TRUE(may_see(peer(kAlice), alices, kPolicy));
  EXPECT_FALSE(may_see(peer(kBob), alices, kPolicy));
  EXPECT_TRUE(may_see(peer(0), alices, kPolicy));
  EXPECT_TRUE(may_see(peer(kSlurm), alices, kPolicy));
}

TEST(Authorization, NobodySendsRepliesToTheAgent) {
  EXPECT_EQ(verdict(peer(0), Ok{}), "ok is a reply; the agent does not take it");
  EXPECT_EQ(verdict(peer(kAlice), Error{"x", "y"}), "error is a reply; the agent does not take it");
  EXPECT_EQ(verdict(peer(kSlurm), StatusReply{}),
            "status_reply is a reply; the agent does not take it");
}

TEST(Authorization, MissingFactsDenyRatherThanAllow) {
  const auto r = may(peer(kAlice), run_of(kAlice, {100}), kPolicy, AuthorityFacts{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "pid 100 does not exist");
}

}  // namespace
}  // namespace jobcarbon::agent
