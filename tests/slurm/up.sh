#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine, for the Slurm executor's tests, from
# Debian's packages (slurmctld, slurmd, munge, slurm-client). Idempotent: a cluster that already
# answers is left alone. Needs root. Prints "slurm: up" and exits 0 when `sinfo` shows the node
# idle; otherwise says why and exits 1 (the tests then skip with that reason).
#
#   bash tests/slurm/up.sh            # install what is missing, write the config, start
#   bash tests/slurm/up.sh --down     # stop the daemons
#
# The config goes to /etc/slurm/slurm.conf (written only when absent or written by this script):
# one node named after this host with all its CPUs, one partition `debug`, consumable cores
# (select/cons_tres, CR_Core) so an element that asks for cores gets cores of its own.
set -uo pipefail

MARK="# written by optagent tests/slurm/up.sh"
CONF=/etc/slurm/slurm.conf

say() { printf 'slurm: %s\n' "$*"; }

if [[ ${1:-} == --down ]]; then
    pkill -x slurmd 2>/dev/null; pkill -x slurmctld 2>/dev/null; pkill -x munged 2>/dev/null
    say "stopped"; exit 0
fi

if command -v sinfo >/dev/null 2>&1 && timeout 5 sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mixed|alloc'; then
    say "up (already running)"; exit 0
fi

if [[ $(id -u) != 0 ]]; then say "not root: cannot start a cluster here"; exit 1; fi

need=()
for c in slurmctld:slurmctld slurmd:slurmd munged:munge sbatch:slurm-client; do
    command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
done
if (( ${#need[@]} )); then
    say "installing ${need[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >/tmp/optagent-slurm-apt.log 2>&1; then
        say "could not install ${need[*]} (see /tmp/optagent-slurm-apt.log)"; exit 1
    fi
fi

host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
if [[ ! -f $CONF ]] || grep -qF "$MARK" "$CONF"; then
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    cat >"$CONF" <<CONF
$MARK
ClusterName=optagent-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
fi

if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null
mkdir -p /run/munge && chown munge:munge /run/munge
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- munged --force 2>/dev/null || munged --force
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 1 30); do
    state=$(timeout 5 sinfo -h -o '%T' 2>/dev/null | head -1)
    case "$state" in
        idle|mixed|allocated) say "up ($host, $cpus CPUs)"; exit 0 ;;
        down*|drain*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 ;;
    esac
    sleep 1
done
say "the node did not become idle (state: ${state:-none}); see /var/log/slurm/*.log"
exit 1
