# Sourced by scripts/demo and scripts/bench: a private OpenSSH server on
# 127.0.0.1 with keys made for this run, never touching the system's ssh
# configuration or the user's ~/.ssh.
#
#   sshd_start DIR      starts sshd; sets SSHD_PORT, SSHD_PID, SSH_KEY,
#                       SSH_KNOWN_HOSTS, SSH_USER; writes DIR/ssh_config
#   sshd_stop           stops it
# Optional: SSHD_EXTRA_CONFIG, lines appended to the sshd_config (scripts/bench
# uses it to allow a single cipher).

sshd_free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

sshd_start() {
  local dir=$1
  mkdir -p "$dir"
  chmod 700 "$dir"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" </dev/null
  ssh-keygen -q -t ed25519 -N '' -f "$dir/user_key" </dev/null
  cp "$dir/user_key.pub" "$dir/authorized_keys"
  SSHD_PORT=$(sshd_free_port)
  SSH_USER=$(id -un)
  cat >"$dir/sshd_config" <<CFG
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
LogLevel ${SSHD_LOG_LEVEL:-ERROR}
${SSHD_EXTRA_CONFIG:-}
CFG
  mkdir -p /run/sshd 2>/dev/null || true
  /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>>"$dir/sshd.log" &
  SSHD_PID=$!
  SSH_KEY=$dir/user_key
  SSH_KNOWN_HOSTS=$dir/known_hosts
  echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$SSH_KNOWN_HOSTS"
  cat >"$dir/ssh_config" <<CFG
Host sparsync-demo
  HostName 127.0.0.1
  Port $SSHD_PORT
  User $SSH_USER
  IdentityFile $SSH_KEY
  UserKnownHostsFile $SSH_KNOWN_HOSTS
  StrictHostKeyChecking yes
CFG
  local i
  for i in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "sshd did not start; see $dir/sshd.log" >&2
  return 1
}

sshd_stop() {
  [[ -n "${SSHD_PID:-}" ]] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
  SSHD_PID=
}
