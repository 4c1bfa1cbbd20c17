#!/bin/sh
":" /*
# tsov-runtime's entry point: a POSIX shell script that is also a JavaScript
# file (`node tsov-runtime.js` works; in JavaScript the shell part is the
# string ":" and a comment).
#
# containerd's shim runs its runtime four or so times per container (create,
# start, state, kill, delete) and Node takes ~55 ms to start here, so every
# call that tsov has nothing to do in goes straight from this shell part to
# the real runtime with `exec` — same arguments, descriptors, signals and exit
# status, as if it had been called directly. Node (translator/runtime/main.ts)
# runs only for:
#   create/run  when the bundle's config.json may hold a `type: overlay` entry:
#               it contains "overlay" or a \u escape (which could spell it);
#   delete      when translation state exists for the container;
#   anything    when the pass-through cache below is missing or stale.
# The cache ($TSOV_RUNTIME_CACHE, default /run/tsov/runtime, file passthrough)
# is written by the Node part: the policy file it read (or "(defaults)"), the
# SHA-256 of its content, the real runtime and translation.state_dir, one per
# line. It is used only while it names this policy file with its content now
# (sha256sum: ~1 ms; a modification time would miss a policy replaced by an
# older file). The argument scan below is the one in runtime-args.ts; a delete
# of an id tsov would never have given state to goes straight to the runtime
# (a create of one goes to Node, which refuses it before any mount).
# test/integration/runtime-fast-path.test.ts holds them to the same answers.

policy=${TSOV_CONFIG:-/etc/tsov/config.yaml}
if [ -z "$TSOV_CONFIG" ] && [ ! -e "$policy" ]; then policy='(defaults)'; fi
cache=${TSOV_RUNTIME_CACHE:-/run/tsov/runtime}/passthrough

if [ -r "$cache" ]; then
  { read -r cached_policy; read -r cached_digest; read -r binary; read -r state_dir; } < "$cache"
  digest='(defaults)'
  if [ "$policy" != '(defaults)' ]; then digest=$(sha256sum < "$policy" 2>/dev/null) || digest=''; digest=${digest%% *}; fi
  if [ "$cached_policy" = "$policy" ] && [ -n "$digest" ] && [ "$cached_digest" = "$digest" ] && [ -n "$binary" ] && [ -n "$state_dir" ]; then
    command='' id='' bundle=. phase=global expect=''
    for arg do
      if [ -n "$expect" ]; then
        if [ "$expect" = bundle ]; then bundle=$arg; fi
        expect=''
        continue
      fi
      case $phase in
        global)
          case $arg in
            --log|--log-format|--root|--criu|--rootless) expect=value ;;
            -*) ;;
            *) command=$arg phase=command ;;
          esac ;;
        command)
          case $arg in
            --) phase=rest ;;
            --bundle|-b) expect=bundle ;;
            --bundle=*) bundle=${arg#--bundle=} ;;
            -b=*) bundle=${arg#-b=} ;;
            --console-socket|--pid-file|--preserve-fds) expect=value ;;
            -) if [ -z "$id" ]; then id=$arg; fi ;;
            -*) ;;
            *) if [ -z "$id" ]; then id=$arg; fi ;;
          esac ;;
        rest) if [ -z "$id" ]; then id=$arg; fi ;;
      esac
    done
    needs_node=''
    if [ -n "$id" ]; then
      case $command in
        create|run) if grep -q -e overlay -e '\\u' "$bundle/config.json" 2>/dev/null; then needs_node=yes; fi ;;
        delete)
          case $id in
            .|..|*[!A-Za-z0-9_+.-]*) ;; # not an id tsov gives state to: never looked up (delete ../x)
            *) if [ -e "$state_dir/$id" ]; then needs_node=yes; fi ;;
          esac ;;
      esac
    fi
    if [ -z "$needs_node" ]; then exec "$binary" "$@"; fi
  fi
fi
exec node "$0" "$@"
*/
require('../../dist/translator/runtime/main.js');
