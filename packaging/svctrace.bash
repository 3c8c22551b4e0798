# bash completion for svctrace                                      -*- shell-script -*-
#
# Everything offered comes from the `--help` of the svctrace being completed (and `svctrace SUB --help`
# once a subcommand is on the line), so completion follows the binary, whatever flags it has:
#   - flags and subcommands;
#   - for an option whose value is listed as {a,b,c} in the help (--route-hook, --nat-hook): those;
#   - for a FILE value (--report, --ready-file, --iptables-save, --nft-json, --record, --pcap, replay's FILE):
#     file names;
#   - for --netns (NAME|PATH): the names `ip netns list` prints, or paths once a / is typed;
#   - for a DIR value (--host-root): directories.
# Needs nothing but bash (not the bash-completion package's helpers).

_svctrace() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  # bash splits `--opt=value` at the `=`: complete the value of --opt.
  if [[ $cur == "=" ]]; then
    cur=""
  elif [[ $prev == "=" && $COMP_CWORD -ge 2 ]]; then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi

  local prog=${COMP_WORDS[0]} help subcommands sub="" w
  help=$("$prog" --help 2>/dev/null) || return 0
  subcommands=$(sed -n '/^Subcommands:$/,/^[^ ]/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' <<<"$help" | tr '\n' ' ')
  for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    [[ -n $w && " $subcommands " == *" $w "* ]] && sub=$w
  done
  [[ -n $sub ]] && help+=$'\n'$("$prog" "$sub" --help 2>/dev/null)

  # Option lines: "  --name TYPE ..." or "  -v,--verbose"; TYPE is absent for flags.
  local spec
  spec=$(sed -n 's/^  \(-[^ ]*\)\( [^ ]*\)\{0,1\}.*/\1\2/p' <<<"$help")

  if [[ $prev == -* ]]; then
    local names type
    while read -r names type; do
      [[ ,$names, == *",$prev,"* ]] || continue
      [[ -z $type ]] && break # a flag: fall through to the next word
      COMPREPLY=()
      if [[ $type == *"{"*"}"* ]]; then
        local choices=${type#*\{}
        choices=${choices%\}*}
        mapfile -t COMPREPLY < <(compgen -W "${choices//,/ }" -- "$cur")
      elif [[ $type == FILE* ]] || [[ $type == *PATH* && $cur == */* ]]; then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      elif [[ $type == DIR* ]]; then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      elif [[ $type == NAME\|PATH* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(ip netns list 2>/dev/null | cut -d' ' -f1)" -- "$cur")
      fi
      return 0
    done <<<"$spec"
  fi

  # A subcommand's FILE argument (`replay FILE`): file names.
  if [[ -n $sub && $cur != -* ]] && grep -q '^  FILE ' <<<"$help"; then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    return 0
  fi

  local words
  words=$(cut -d' ' -f1 <<<"$spec" | tr ',' '\n' | sort -u)
  [[ -z $sub && $cur != -* ]] && words+=$'\n'$subcommands
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F _svctrace svctrace
