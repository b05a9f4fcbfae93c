#!/usr/bin/env bash
# A one-node Slurm for the study tests, with its state in a temporary directory: munged on its
# own socket, slurmctld and slurmd on this host, root as SlurmUser.
#   slurm_cluster.sh start DIR   prints the SLURM_CONF to export; the daemons run until
#   slurm_cluster.sh stop DIR
set -eu
action=$1
dir=$2
case "$action" in
start)
  for tool in munged slurmctld slurmd sbatch; do
    command -v "$tool" >/dev/null || { echo "slurm_cluster.sh: $tool is not installed (bash scripts/setup.sh)" >&2; exit 3; }
  done
  mkdir -p "$dir"/{munge,state,spool,log}
  chmod 700 "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed"
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
  cat >"$dir/slurm.conf" <<CONF
ClusterName=parallax-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=$(( 20000 + RANDOM % 20000 ))
SlurmdPort=$(( 40000 + RANDOM % 20000 ))
ReturnToService=2
KillWait=5
MinJobAge=300
MaxArraySize=1025
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
# A cluster of 128 DGX-like nodes that never start: enough for sbatch --test-only to judge
# the job arrays of a 1024-GPU study.
GresTypes=gpu
SuspendProgram=/bin/true
ResumeProgram=/bin/true
SuspendTime=600
ResumeTimeout=600
NodeName=gpu[001-128] NodeAddr=192.0.2.1 CPUs=128 RealMemory=1000000 Gres=gpu:8 State=CLOUD
PartitionName=gpu Nodes=gpu[001-128] MaxTime=INFINITE State=UP
CONF
  echo "NodeName=gpu[001-128] Name=gpu Count=8" >"$dir/gres.conf"
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -i
  slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "$SLURM_CONF"
      exit 0
    fi
    sleep 0.5
  done
  echo "slurm_cluster.sh: the node did not come up; see $dir/log" >&2
  exit 1
  ;;
stop)
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  ;;
esac
