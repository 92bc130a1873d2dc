#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Several real hosts on one machine, for MPI: each simulated host has its own UTS namespace
# (hostname), mount namespace (a private /dev/shm tmpfs and /etc/hosts) and network namespace
# (a veth on a private bridge; addresses exist only inside the namespaces). mpirun runs in the
# first host and starts its daemons on the others through an rsh agent that enters their
# namespaces (nsenter) instead of ssh. So MPI itself decides which ranks share a node, shared
# memory is truly not shared across hosts, and traffic between hosts crosses a network stack.
#
#   simhosts.sh [--nodes N] [--slots S] [--shm-size SIZE] [--after CMD] -- MPIRUN-ARGS...
#
# Runs `mpirun --allow-run-as-root --oversubscribe <host flags> MPIRUN-ARGS...` in host 0 and
# exits with its status. --after CMD then runs CMD in every host (its /dev/shm), printing each
# output line as "after HOST: line". Everything it made (namespaces, veths, bridge, mounts,
# files) is removed on exit; names carry a random id, so concurrent runs do not collide.
# Exits 77 (skipped) when it cannot work here: not root, or unshare/nsenter/ip/mpirun missing,
# or the kernel refuses namespaces, veths or bridges (the message says which).
set -euo pipefail

nodes=3
slots=2
shm_size=1G
after=""
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=$2; shift 2 ;;
    --slots) slots=$2; shift 2 ;;
    --shm-size) shm_size=$2; shift 2 ;;
    --after) after=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "simhosts.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

skip() { echo "simhosts.sh: skipped: $*" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, veth pairs, a bridge)"
for tool in unshare nsenter ip mpirun; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done

id=$(printf '%04x%02x' $(($$ & 0xffff)) $((RANDOM & 0xff)))
work=$(mktemp -d "/tmp/onecopy-simhosts.$id.XXXXXX")
bridge="ocb$id"
subnet_prefix="10.$((RANDOM % 200 + 20)).$((RANDOM % 250))"
holders=()

cleanup() {
  local pid
  for pid in "${holders[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${holders[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip link del "$bridge" 2>/dev/null || true  # the veths went with their namespaces
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

ip link add "$bridge" type bridge 2>"$work/err" || skip "ip link add $bridge type bridge: $(cat "$work/err")"
ip link set "$bridge" up

{
  echo "127.0.0.1 localhost"
  for ((i = 0; i < nodes; i++)); do echo "$subnet_prefix.$((i + 1)) n$i-$id"; done
} >"$work/hosts"
: >"$work/hostfile"
: >"$work/pids"

for ((i = 0; i < nodes; i++)); do
  host="n$i-$id"
  # The holder keeps the host's namespaces alive; everything else enters them with nsenter.
  unshare --mount --uts --net --propagation private -- /bin/sh -c "
    mount -t tmpfs -o size=$shm_size,mode=1777 tmpfs /dev/shm &&
    mount --bind '$work/hosts' /etc/hosts &&
    hostname '$host' && touch '$work/ready.$i' && exec sleep infinity" 2>"$work/err.$i" &
  pid=$!
  holders+=("$pid")
  for ((t = 0; t < 100; t++)); do
    [ -e "$work/ready.$i" ] && break
    kill -0 "$pid" 2>/dev/null || skip "unshare (host $host): $(cat "$work/err.$i")"
    sleep 0.05
  done
  [ -e "$work/ready.$i" ] || skip "host $host did not come up: $(cat "$work/err.$i")"
  veth="ocv$id$i"
  peer="ocp$id$i"
  ip link add "$veth" type veth peer name "$peer" 2>"$work/err" || skip "ip link add $veth type veth: $(cat "$work/err")"
  ip link set "$peer" netns "$pid"
  ip link set "$veth" master "$bridge" up
  nsenter -t "$pid" -n ip link set lo up
  nsenter -t "$pid" -n ip addr add "$subnet_prefix.$((i + 1))/24" dev "$peer"
  nsenter -t "$pid" -n ip link set "$peer" up
  echo "$host $pid" >>"$work/pids"
  echo "$host slots=$slots" >>"$work/hostfile"
done

# mpirun's rsh agent: "agent [ssh options] HOST COMMAND..." runs COMMAND in HOST's namespaces.
cat >"$work/agent.sh" <<AGENT
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
pid=\$(awk -v h="\$host" '\$1 == h { print \$2 }' "$work/pids")
[ -n "\$pid" ] || { echo "simhosts agent: unknown host '\$host'" >&2; exit 1; }
exec nsenter -t "\$pid" -m -u -n -- /bin/sh -c "\$*"
AGENT
chmod +x "$work/agent.sh"

subnet="$subnet_prefix.0/24"
set +e
nsenter -t "${holders[0]}" -m -u -n -- mpirun --allow-run-as-root --oversubscribe \
  --hostfile "$work/hostfile" --mca plm_rsh_agent "$work/agent.sh" --mca plm_rsh_no_tree_spawn 1 \
  --mca btl self,vader,tcp --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet" \
  "$@"
rc=$?
set -e
if [ -n "$after" ]; then
  while read -r host pid; do
    nsenter -t "$pid" -m -u -n -- /bin/sh -c "$after" 2>&1 | sed "s/^/after $host: /"
  done <"$work/pids"
fi
exit $rc
