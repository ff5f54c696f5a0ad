#!/usr/bin/env bash
# A single-node SLURM on this machine (slurmctld + slurmd on localhost, one partition "debug"),
# for the tests of `reproduce --executor slurm`. Idempotent: a SLURM that already answers is
# left as it is. Installs Debian's slurm-wlm and munge with apt where they are missing (root).
#   tools/start_slurm.sh            # install if needed, configure, start; exit 0 once the node is idle
# Exit status 3: no SLURM could be installed or started here (the tests skip with the reason).
set -euo pipefail
log() { echo "start_slurm: $*" >&2; }

if command -v sinfo >/dev/null && sinfo -h -o %T 2>/dev/null | grep -qx idle; then
    exit 0  # already up
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "slurm-wlm and munge are not installed, and apt-get as root is not available"
        exit 3
    fi
    log "installing slurm-wlm and munge (apt)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq slurm-wlm munge; } >/tmp/start_slurm_apt.log 2>&1; then
        log "apt-get install slurm-wlm munge failed: see /tmp/start_slurm_apt.log"
        exit 3
    fi
fi
if [ "$(id -u)" != 0 ]; then
    log "starting slurmctld/slurmd needs root"
    exit 3
fi

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10))
mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm /run/munge
chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm
cat >/etc/slurm/slurm.conf <<EOF
# written by sparselab tools/start_slurm.sh: one node, one partition, no accounting
ClusterName=sparselab
SlurmctldHost=$host
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it starts again (default 120)
AuthInfo=cred_expire=10
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MaxArraySize=10001
MinJobAge=600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF

if ! pgrep -x munged >/dev/null; then
    [ -s /etc/munge/munge.key ] || mungekey -c -f -k /etc/munge/munge.key
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key
    runuser -u munge -- munged || munged --force
fi
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 60); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    if [ "$state" = idle ]; then
        exit 0
    fi
    case "$state" in down* | drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;; esac
    sleep 1
done
log "the node did not become idle in 60 s (state: ${state:-none}); see /var/log/slurm/"
exit 3
