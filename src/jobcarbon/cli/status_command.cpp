#include <jobcarbon/cli/status_command.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/agent/client.hpp>
#include <jobcarbon/agent/protocol.hpp>
#include <jobcarbon/cli/config_loading.hpp>

namespace jobcarbon::cli {

namespace {

struct StatusFlags {
  std::optional<std::string> socket;
  std::string config;
  bool json = false;
};

void status(const StatusFlags& flags) {
  const Settings config = load_settings(flags.config);
  const std::string socket =
      flags.socket.value_or(config.agent_socket.value_or(std::string(agent::kDefaultAgentSocket)));
  const auto reply = agent::request(socket, agent::StatusRequest{});
  if (!reply) {
    fmt::print(stderr, "jobcarbon: error: {}{}\n", reply.error().message,
               reply.error().no_agent ? " (is jobcarbond running on this node?)" : "");
    throw CLI::RuntimeError(1);
  }
  if (const auto* e = std::get_if<agent::Error>(&*reply)) {
    fmt::print(stderr, "jobcarbon: error: the agent refused: {} ({})\n", e->message, e->code);
    throw CLI::RuntimeError(1);
  }
  const auto* s = std::get_if<agent::StatusReply>(&*reply);
  if (s == nullptr) {
    fmt::print(stderr, "jobcarbon: error: {}: unexpected reply\n", socket);
    throw CLI::RuntimeError(1);
  }
  if (flags.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : s->jobs) {
      j.push_back({{"cluster", r.key.cluster},
                   {"job_id", r.key.job_id},
                   {"step", r.key.step},
                   {"submit_time_us", r.key.submit_time_us},
                   {"user", r.user},
                   {"energy_uj", r.energy.value},
                   {"co2_kg", r.co2_kg}});
    }
    fmt::print("{}\n", nlohmann::json{{"jobs", j}}.dump(2));
    return;
  }
  if (s->jobs.empty()) {
    fmt::print("no job is metered on this node now\n");
    return;
  }
  fmt::print("{:<12} {:<8} {:<12} {:>12} {:>12}\n", "JOB", "STEP", "USER", "ENERGY kWh", "CO2 kg");
  for (const auto& r : s->jobs) {
    fmt::print("{:<12} {:<8} {:<12} {:>12.6f} {:>12.6f}\n", r.key.job_id, r.key.step, r.user,
               static_cast<double>(r.energy.value) / 3.6e12, r.co2_kg);
  }
}

}  // namespace

void add_status_command(CLI::App& app) {
  auto flags = std::make_shared<StatusFlags>();
  auto* cmd = app.add_subcommand("status", "Show the jobs the node agent meters on this node now");
  cmd->add_option("--socket", flags->socket,
                  "The agent's socket (default: agent-socket of the configuration, else "
                  "/run/jobcarbon/agent.sock)");
  cmd->add_option("--config", flags->config,
                  "Read this configuration file instead of the defaults");
  cmd->add_flag("--json", flags->json, "Print JSON");
  cmd->callback([flags] { status(*flags); });
}

}  // namespace jobcarbon::cli
