# bash completion for sparsync. Installed to share/bash-completion/completions.
# Completes options (read from `sparsync --help`, so it follows the binary),
# the values of options that take a file, local paths, and remote `host:`
# names from the Host entries of ~/.ssh/config (and files it Includes by a
# plain path). Remote paths are not completed: that would need a login.

_sparsync_ssh_hosts() {
    local config=${1:-$HOME/.ssh/config} line word
    [[ -r $config ]] || return
    while read -r line; do
        case ${line,,} in
            host\ *|host=*)
                for word in ${line#*[ =]}; do
                    # Patterns and negations name no single host.
                    [[ $word == *[*?!]* ]] || printf '%s\n' "$word"
                done
                ;;
            include\ *)
                for word in ${line#* }; do
                    [[ $word == /* ]] || word=$HOME/.ssh/$word
                    [[ -r $word ]] && _sparsync_ssh_hosts "$word"
                done
                ;;
        esac
    done < "$config"
}

_sparsync() {
    local cur prev
    # bash splits words at ':' (COMP_WORDBREAKS); bash-completion's helper
    # keeps host:path in one word.
    if declare -F _get_comp_words_by_ref >/dev/null; then
        _get_comp_words_by_ref -n : cur prev
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
    fi

    case $prev in
        -i|--identity|-F|--ssh-config|--known-hosts|--metrics-file|--remote-path|--job)
            COMPREPLY=($(compgen -f -- "$cur"))
            return
            ;;
        --checksum)
            COMPREPLY=($(compgen -W 'xxh3 sha256' -- "$cur"))
            return
            ;;
        -b|--block-size)
            COMPREPLY=($(compgen -W '4K 8K 16K 32K 64K 128K 256K 512K 1M 2M 4M' -- "$cur"))
            return
            ;;
        -p|--port|-l|--login|--size|--bwlimit|--checkpoint-interval|--checkpoint-seconds|\
        --retries|--retry-wait|--connect-timeout|--keepalive|--progress-interval|--parallel|--only)
            return  # a value of the user's choosing
            ;;
    esac

    if [[ $cur == -* ]]; then
        local opts
        opts=$("${COMP_WORDS[0]}" --help 2>/dev/null |
            grep -oE '^ +-[^ ]+' | tr ',' '\n' | grep -oE '^ *--?[A-Za-z0-9][A-Za-z0-9-]*' | tr -d ' ')
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi

    # A word with a colon before any slash is remote: nothing to complete after it.
    if [[ $cur == *:* && ${cur%%:*} != */* ]]; then
        return
    fi
    local hosts
    hosts=$(_sparsync_ssh_hosts | sort -u)
    local user=
    if [[ $cur == *@* ]]; then
        user=${cur%%@*}@
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
    local h
    for h in $(compgen -W "$hosts" -- "${cur#"$user"}"); do
        COMPREPLY+=("$user$h:")
    done
    # Neither a directory nor host: is a finished word; a file is.
    compopt -o nospace 2>/dev/null
    local i
    for i in "${!COMPREPLY[@]}"; do
        if [[ -d ${COMPREPLY[i]} ]]; then
            COMPREPLY[i]+=/
        elif [[ ${COMPREPLY[i]} != *: ]]; then
            COMPREPLY[i]+=' '
        fi
    done
    declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions "$cur"
    return 0
}

complete -F _sparsync sparsync
