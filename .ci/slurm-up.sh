#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for the Slurm executor's end-to-end
# test (tests/slurm.rs). Debian's slurm-wlm and munge; no systemd, no
# cgroups, no accounting database. Idempotent: when the node already answers
# `sinfo` it returns at once. Needs root (apt-get, daemons).
set -euo pipefail

node_up() { sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

if command -v sinfo >/dev/null && pgrep -x slurmd >/dev/null && node_up; then
  echo "slurm-up: node already up"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "slurm-up: needs root to install and start Slurm" >&2; exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# munge: one key, daemon as the munge user.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey --create --force
  else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
fi
if ! pgrep -u munge -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
fi

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
conf_dir=/etc/slurm
install -d "$conf_dir" /var/spool/slurmd /var/spool/slurmctld /var/log/slurm
cat > "$conf_dir/slurm.conf" <<CONF
# Written by .ci/slurm-up.sh: one node on localhost, no cgroups, no accounting.
ClusterName=rooflaw-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# No cgroup.conf: Slurm 22.05 autodetects the cgroup version and, with
# proctrack/linuxproc and task/none, uses none of it.

fail() {
  echo "slurm-up: $1; logs:" >&2
  tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  exit 1
}
pgrep -x slurmctld >/dev/null || slurmctld || fail "slurmctld did not start"
pgrep -x slurmd >/dev/null || slurmd || fail "slurmd did not start"

for _ in $(seq 1 60); do
  if node_up; then echo "slurm-up: node $host idle ($cpus CPUs, $mem_mb MB)"; exit 0; fi
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 1
done
fail "node did not come up"

