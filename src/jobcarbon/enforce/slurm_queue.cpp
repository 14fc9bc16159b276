#include <jobcarbon/enforce/slurm_queue.hpp>

#include <fmt/format.h>

#include <jobcarbon/os/command.hpp>

namespace jobcarbon::enforce {
namespace {

std::vector<std::string_view> split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = line.find(sep, start);
    out.push_back(line.substr(start, at == std::string_view::npos ? line.npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 80)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  return out;
}

class SlurmCluster final : public Cluster {
 public:
  explicit SlurmCluster(SlurmCommands c) : c_(std::move(c)) {}

  std::expected<std::vector<SlurmJob>, std::string> jobs() override {
    auto r = os::run_command(
        {c_.squeue, "-h", "-t", "RUNNING,PENDING", "-o", std::string(kSqueueFormat)}, c_.timeout);
    if (!r) return std::unexpected(r.error());
    if (r->exit_code != 0) {
      return std::unexpected(
          fmt::format("squeue failed (exit {}): {}", r->exit_code, first_line(r->err)));
    }
    return parse_squeue(r->out);
  }

  std::expected<void, std::string> signal(const std::string& job,
                                          const std::string& signal) override {
    // --batch reaches the batch shell, where a training script's trap is; a job started by
    // srun or salloc has no batch step, so its steps get the signal instead.
    auto r = action({c_.scancel, "--signal=" + signal, "--batch", job}, job);
    if (r) return r;
    return action({c_.scancel, "--signal=" + signal, job}, job);
  }
  std::expected<void, std::string> cancel(const std::string& job) override {
    return action({c_.scancel, job}, job);
  }
  std::expected<void, std::string> hold(const std::string& job) override {
    return action({c_.scontrol, "hold", job}, job);
  }
  std::expected<void, std::string> release(const std::string& job) override {
    return action({c_.scontrol, "release", job}, job);
  }

 private:
  static std::string first_line(const std::string& text) {
    const auto nl = text.find('\n');
    return text.substr(0, nl);
  }
  std::expected<void, std::string> action(const std::vector<std::string>& argv,
                                          const std::string& job) {
    auto r = os::run_command(argv, c_.timeout);
    if (!r) return std::unexpected(fmt::format("job {}: {}", job, r.error()));
    if (r->exit_code != 0) {
      return std::unexpected(fmt::format("job {}: {} failed (exit {}): {}", job,
                                         fmt::join(argv, " "), r->exit_code, first_line(r->err)));
    }
    return {};
  }
  SlurmCommands c_;
};

}  // namespace

std::expected<std::vector<SlurmJob>, std::string> parse_squeue(std::string_view text) {
  std::vector<SlurmJob> jobs;
  int number = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const auto f = split(line, '|');
    if (f.size() != 5) {
      return std::unexpected(
          fmt::format("squeue output line {}: expected 5 fields separated by '|', got {}: '{}'",
                      number, f.size(), printable(line)));
    }
    if (f[0].empty()) {
      return std::unexpected(fmt::format("squeue output line {}: the job id is empty", number));
    }
    SlurmJob job;
    job.id = std::string(f[0]);
    job.state = f[1] == "RUNNING"   ? SlurmJob::State::kRunning
                : f[1] == "PENDING" ? SlurmJob::State::kPending
                                    : SlurmJob::State::kOther;
    job.account = std::string(f[2]);
    job.user = std::string(f[3]);
    job.reason = std::string(f[4]);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

std::unique_ptr<Cluster> slurm_cluster(SlurmCommands commands) {
  return std::make_unique<SlurmCluster>(std::move(commands));
}

}  // namespace jobcarbon::enforce
