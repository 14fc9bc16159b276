--[[
jobcarbon's submission check for Slurm (issue #5): every sbatch, srun and salloc that reaches
slurmctld is checked against its account's yearly CO2 budget with `jobcarbon budget check`.
job_submit/lua is the one hook that sees the account from `#SBATCH -A` lines as well as from -A,
SBATCH_ACCOUNT and the user's default account.

Install: JobSubmitPlugins=lua in slurm.conf and this file as job_submit.lua next to slurm.conf
(docs/slurm.md). Settings are read at every submission from SETTINGS_FILE (key = value lines), so
a change needs no restart of slurmctld:
  jobcarbon = /usr/local/bin/jobcarbon     the binary
  config = /etc/jobcarbon/config.toml      its configuration (ledger URL, intensity, PUE)
  timeout = 2                              seconds the check may take (slurmctld waits meanwhile;
                                           a process that ignores it is killed 2 s later)
  on_error = open                          open: accept the job when the ledger cannot be read or
                                           the check times out (a log line says so); closed:
                                           refuse it
  contact = your cluster's support         who to ask, named in a refusal

Decisions (jobcarbon budget check, docs/budgets.md): exit 0 allow, 1 warn (the user sees one
line; the job is accepted), 2 deny (refused with the message), anything else: cannot decide.
]]

local SETTINGS_FILE = "/etc/jobcarbon/slurm-submit.conf"

local NO_VAL = 4294967294 -- Slurm's "not set" for 32-bit fields
local NO_VAL16 = 65534

local function settings()
  local s = {
    jobcarbon = "/usr/local/bin/jobcarbon",
    config = "/etc/jobcarbon/config.toml",
    timeout = "2",
    on_error = "open",
    contact = "your cluster's support",
  }
  local f = io.open(SETTINGS_FILE, "r")
  if f then
    for line in f:lines() do
      local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
      if k and v ~= "" then s[k] = v end
    end
    f:close()
  end
  return s
end

-- Quote one argument for /bin/sh.
local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- GPUs per node from tres_per_node ("gres:gpu:2", "gres/gpu:a100:2", "gpu:1"), 0 when none.
local function gpus_per_node(tres)
  if tres == nil then return 0 end
  for item in tostring(tres):gmatch("[^,]+") do
    local n = item:match("gpu[:%w_%-]*:(%d+)$")
    if n then return tonumber(n) end
    if item:match("gpu$") then return 1 end
  end
  return 0
end

local function number_or(v, default)
  if v == nil or v == NO_VAL or v == NO_VAL16 or v == 0 then return default end
  return v
end

-- Return "decision", "message" from `jobcarbon budget check --json` output.
local function parse(out)
  local decision = out:match('"decision"%s*:%s*"(%a+)"')
  local message = out:match('"message"%s*:%s*"(.-)"%s*[,}]')
  if message then message = message:gsub('\\"', '"'):gsub("\\n", " ") end
  return decision, message
end

function slurm_job_submit(job_desc, part_list, submit_uid)
  local s = settings()
  local account = job_desc.account
  if account == nil or account == "" then account = job_desc.default_account end
  local user = job_desc.user_name
  if account == nil or account == "" then account = user end
  if account == nil or account == "" then
    slurm.log_info("jobcarbon: job from uid %d has no account and no user name: not checked",
                   submit_uid)
    return slurm.SUCCESS
  end
  local nodes = number_or(job_desc.min_nodes, 1)
  local cpus = number_or(job_desc.min_cpus, 1) / nodes
  local minutes = number_or(job_desc.time_limit, nil)
  -- jobcarbon gives up by itself after `timeout` (exit 3); `timeout -s KILL` two seconds later is
  -- the backstop for a process that cannot even do that (a hung file system).
  local backstop = tostring((tonumber(s.timeout) or 2) + 2)
  local cmd = table.concat({
    "timeout", "-s", "KILL", backstop, q(s.jobcarbon), "budget", "check", "--json",
    "--timeout", q(s.timeout),
    "--config", q(s.config), "--account", q(account),
    user and ("--user " .. q(user)) or "",
    "--gpus", tostring(gpus_per_node(job_desc.tres_per_node)),
    "--cpus", tostring(cpus), "--nodes", tostring(nodes),
    minutes and ("--time-limit " .. tostring(minutes)) or "",
    -- Lua 5.1 (Slurm's) cannot give a child's exit status: it is printed last.
    "2>&1; echo \"jobcarbon-exit=$?\"",
  }, " ")
  local p = io.popen(cmd, "r")
  local all = p and p:read("*a") or ""
  if p then p:close() end
  local code = tonumber(all:match("jobcarbon%-exit=(%d+)%s*$")) or -1
  local out = all:gsub("jobcarbon%-exit=%d+%s*$", "")
  local decision, message = parse(out)
  if code == 0 then
    return slurm.SUCCESS
  elseif code == 1 then
    slurm.log_user("jobcarbon: %s", message or out)
    return slurm.SUCCESS
  elseif code == 2 then
    slurm.log_user("jobcarbon: %s (ask %s)", message or out, s.contact)
    slurm.log_info("jobcarbon: refused a job of user %s, account %s: %s", tostring(user), account,
                   message or out)
    return slurm.ESLURM_ACCOUNTING_POLICY
  end
  -- 3 (the ledger cannot be read), 137 (timed out) or anything else: the site's rule.
  local why = (code == 137) and ("no answer within " .. backstop .. " s") or
                (message or out:gsub("%s+$", ""))
  if s.on_error == "closed" then
    slurm.log_user("jobcarbon: the CO2 budget of account %s cannot be checked (%s); the site "
                     .. "refuses jobs until it can (ask %s)", account, why, s.contact)
    slurm.log_error("jobcarbon: refused (fail closed), account %s: %s", account, why)
    return slurm.ESLURM_ACCOUNTING_POLICY
  end
  slurm.log_error("jobcarbon: accepted without a budget check (fail open), account %s: %s",
                  account, why)
  return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  return slurm.SUCCESS
end

slurm.log_info("jobcarbon: job_submit.lua loaded")
return slurm.SUCCESS
