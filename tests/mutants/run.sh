#!/usr/bin/env bash
# The mutation check: applies each mutation of tests/mutants/mutants.txt, one
# at a time, to a scratch copy of the tree, rebuilds it (one build directory,
# incrementally), runs the tests the mutation names and reports it:
#   caught     a named test failed (or hung past its timeout)
#   SURVIVED   the named tests all passed: a bug they cannot see
#   STALE      the text to find is not in the file exactly once (or no test
#              matches the regex): the list needs updating
#   BROKEN     the mutated tree does not build: not a meaningful mutation
# Exits 0 only when every mutation run was caught.
#
#   tests/mutants/run.sh [--quick] [--keep] [NAME...]
#     --quick   only the mutations flagged quick (CI runs these)
#     --keep    leave the scratch copy (its path is printed)
#     --stale   build nothing: only check that every mutation's text is in
#               its file exactly once (CI runs this: a refactor that moves
#               code must bring the list along)
#     NAME...   only these mutations
#   MUTANT_JOBS (default 2) build and test jobs; MUTANT_TIMEOUT (default 300)
#   seconds for one mutation's tests; MUTANT_BUILD_TYPE (default
#   RelWithDebInfo).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
list=$here/mutants.txt
jobs=${MUTANT_JOBS:-2}
limit=${MUTANT_TIMEOUT:-300}
quick=0 keep=0 stale_only=0
want=()
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --stale) stale_only=1 ;;
    -h | --help)
        sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "run.sh: unknown option $a" >&2
        exit 2
        ;;
    *) want+=("$a") ;;
    esac
done

# ---- the list ----
sep=' :: '
names=() flags=() files=() tests=() finds=() repls=()
# Sets trimmed to $1 without its surrounding blanks (no subshell: the
# list is read once per run, field by field).
trim() {
    local s=$1
    s=${s#"${s%%[![:space:]]*}"}
    trimmed=${s%"${s##*[![:space:]]}"}
}
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    rest=$line fields=()
    while [[ "$rest" == *"$sep"* ]]; do
        trim "${rest%%"$sep"*}"
        fields+=("$trimmed")
        rest=${rest#*"$sep"}
    done
    trim "$rest"
    fields+=("$trimmed")
    if [ "${#fields[@]}" -ne 6 ]; then
        echo "run.sh: $list:$lineno: ${#fields[@]} fields, not 6" >&2
        exit 2
    fi
    names+=("${fields[0]}") flags+=("${fields[1]}") files+=("${fields[2]}")
    tests+=("${fields[3]}") finds+=("${fields[4]}") repls+=("${fields[5]}")
done <"$list"

# Counts the occurrences of FIND (escapes decoded) in FILE, or replaces the
# one occurrence with REPL: perl, so that the text is taken literally.
PERL_DECODE='sub dec { my $s = shift; $s =~ s/\\(\\|n|t)/$1 eq "n" ? "\n" : $1 eq "t" ? "\t" : "\\"/ge; $s }'
count_in() { # FILE FIND
    FIND=$2 perl -0777 -ne "$PERL_DECODE"'
        $f = dec($ENV{FIND}); $n = () = /\Q$f\E/g; print $n' "$1"
}

if [ "$stale_only" -eq 1 ]; then
    # One perl for the whole list (one per mutation took 10-20 s): reads
    # NAME, FILE, FIND triples separated by NULs, prints the stale ones.
    out=$(for i in "${!names[@]}"; do
        printf '%s\0%s\0%s\0' "${names[$i]}" "$root/${files[$i]}" "${finds[$i]}"
    done | perl -0 -e "$PERL_DECODE"'
        my @v = map { chomp; $_ } <STDIN>;
        my %text;
        for (my $k = 0; $k + 2 <= $#v; $k += 3) {
            my ($name, $file, $find) = @v[$k .. $k + 2];
            if (!exists $text{$file}) {
                local $/; my $t = "";
                if (open(my $fh, "<", $file)) { $t = <$fh>; close $fh; }
                $text{$file} = $t;
            }
            my $f = dec($find);
            my $n = () = $text{$file} =~ /\Q$f\E/g;
            print "$name\t$file\t$n\n" if $n != 1;
        }')
    if [ -n "$out" ]; then
        printf '%s\n' "$out" | while IFS="$(printf '\t')" read -r name file n; do
            echo "STALE     $name: its text is in ${file#"$root/"} $n times, not once"
        done
        exit 1
    fi
    echo "mutants: all ${#names[@]} mutations find their text"
    exit 0
fi

selected=()
for i in "${!names[@]}"; do
    if [ "${#want[@]}" -gt 0 ]; then
        for w in "${want[@]}"; do
            [ "$w" = "${names[$i]}" ] && selected+=("$i")
        done
    elif [ "$quick" -eq 0 ] || [ "${flags[$i]}" = quick ]; then
        selected+=("$i")
    fi
done
if [ "${#selected[@]}" -eq 0 ]; then
    echo "run.sh: no mutation selected" >&2
    exit 2
fi

# ---- the scratch copy: the tree as it is now (tracked and new files) ----
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mbx-mutants.XXXXXX")
# The tests' mailbox directories go in one of ours (MBX_TEST_BASE, in
# memory as they expect), and their other temporary files in the scratch
# copy: a test killed at its timeout leaves nothing behind.
shm=$(mktemp -d /dev/shm/mbx-mutants.XXXXXX 2>/dev/null || mktemp -d "$scratch/shm.XXXXXX")
cleanup() {
    rm -rf "$shm"
    if [ "$keep" -eq 1 ]; then
        echo "scratch copy kept: $scratch"
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
mkdir -p "$scratch/src" "$scratch/logs" "$scratch/tmp"
# Open to every user like /dev/shm and /tmp: tests that need root act as a
# second user in there.
chmod 755 "$scratch" && chmod 1777 "$shm" "$scratch/tmp"
(cd "$root" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) |
    tar -xf - -C "$scratch/src"
src=$scratch/src build=$scratch/build logs=$scratch/logs

echo "mutants: ${#selected[@]} of ${#names[@]} mutations; scratch copy $scratch"
t0=$SECONDS
if ! cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE="${MUTANT_BUILD_TYPE:-RelWithDebInfo}" \
    >"$logs/configure.log" 2>&1 ||
    ! cmake --build "$build" -j"$jobs" >"$logs/build.log" 2>&1; then
    echo "mutants: the unmutated tree does not build (see $logs/build.log)" >&2
    keep=1
    exit 1
fi
echo "mutants: built in $((SECONDS - t0)) s"

# Runs the tests matching regex $1 (log to $2) under the time limit.
# Returns ctest's status (an error when none matches), or 124 when the limit
# passed.
run_tests() {
    (cd "$build" && MBX_TEST_BASE=$shm TMPDIR=$scratch/tmp timeout --kill-after=10 "$limit" \
        ctest -R "$1" -j"$jobs" --output-on-failure --no-tests=error) >"$2" 2>&1
}

# The names of the tests matching regex $1, one a line.
tests_matching() {
    (cd "$build" && ctest -N -R "$1") | sed -n 's/^ *Test *#[0-9]*: //p'
}

# The build targets whose programs the tests matching regex $1 run, one a
# line: a program of the build tree named in a test's command or environment
# is taken to be the target of that name; "all" when a test names another
# file of the build tree (a library, the tree itself) or no program of it.
# Relinking only these after a mutation, not every test program, makes a
# mutation's build several times faster. A stale program is never run: the
# mutated file, restored and touched, is newer than whatever was built from
# it, so a target is rebuilt whenever a later mutation's tests need it.
targets_for() {
    (cd "$build" && ctest --show-only=json-v1 -R "$1") | BUILD=$build perl -MJSON::PP -0777 -ne '
        my $j = decode_json($_);
        my %t;
        for my $test (@{$j->{tests}}) {
            my @args = @{$test->{command} || []};
            for my $p (@{$test->{properties} || []}) {
                push @args, @{$p->{value}} if $p->{name} eq "ENVIRONMENT";
            }
            my $n = 0;
            for my $a (@args) {
                $a =~ s/^[A-Za-z_][A-Za-z0-9_]*=//;
                next unless index($a, "$ENV{BUILD}/") == 0 || $a eq $ENV{BUILD};
                next if -d $a && $a ne $ENV{BUILD};
                if (-f $a && -x $a && $a =~ m{/([A-Za-z0-9_.-]+)$} && $1 !~ /\.so/) {
                    $t{$1} = 1;
                    $n++;
                } else {
                    $t{all} = 1;
                }
            }
            $t{all} = 1 if !$n;
        }
        print "$_\n" for sort keys %t;'
}

# Builds what the tests matching regex $1 need (log to $2); everything when
# that is unclear, or when building only those failed (then a full build
# says whether the mutated tree builds at all).
build_for() {
    local t
    t=$(targets_for "$1")
    if [ -n "$t" ] && ! grep -qx all <<<"$t"; then
        # shellcheck disable=SC2046
        cmake --build "$build" -j"$jobs" $(printf -- '--target %s ' $t) >"$2" 2>&1 && return 0
    fi
    cmake --build "$build" -j"$jobs" >>"$2" 2>&1
}

# Without a mutation every named test must pass, and run (a skip would make a
# mutation survive for the wrong reason). One regex of all their names: ctest's
# regular expressions take few groups.
regex=$(for i in "${selected[@]}"; do tests_matching "${tests[$i]}"; done | sort -u | paste -sd'|')
regex="^(${regex})\$"
t0=$SECONDS
if ! run_tests "$regex" "$logs/baseline.log" ||
    grep -q '(Skipped)' "$logs/baseline.log"; then
    echo "mutants: the named tests fail or skip without a mutation:" >&2
    grep -E 'Failed|Timeout|Skipped|Not Run' "$logs/baseline.log" | sed 's/^/  /' >&2
    keep=1
    exit 1
fi
echo "mutants: the named tests pass unmutated ($((SECONDS - t0)) s)"

mutate() { # FILE FIND REPL
    FIND=$2 REPL=$3 perl -0777 -i -pe "$PERL_DECODE"'
        BEGIN { $f = dec($ENV{FIND}); $r = dec($ENV{REPL}) } s/\Q$f\E/$r/' "$1"
}

caught=0 survived=0 stale=0 broken=0
results=()
for i in "${selected[@]}"; do
    name=${names[$i]} file=$src/${files[$i]} log=$logs/${names[$i]}.log
    t0=$SECONDS
    if [ ! -f "$file" ]; then
        verdict="STALE" why="${files[$i]}: no such file"
    elif n=$(count_in "$file" "${finds[$i]}"); [ "$n" != 1 ]; then
        verdict="STALE" why="text found $n times in ${files[$i]}, not once"
    elif ntests=$(tests_matching "${tests[$i]}" | wc -l); [ "$ntests" -eq 0 ]; then
        verdict="STALE" why="no test matches ${tests[$i]}"
    else
        cp -p "$file" "$scratch/original"
        mutate "$file" "${finds[$i]}" "${repls[$i]}"
        if ! build_for "${tests[$i]}" "$log"; then
            verdict="BROKEN" why="does not build (see the log)"
        else
            run_tests "${tests[$i]}" "$log.tests"
            st=$?
            failed=$(sed -n '/^The following tests FAILED:/,$ s/^[[:space:]]*[0-9]* - \(.*\) (.*)$/\1/p' "$log.tests" | tr '\n' ' ')
            if [ "$st" -eq 124 ]; then
                verdict="caught" why="hung past ${limit} s"
            elif [ "$st" -ne 0 ]; then
                verdict="caught" why="failed: ${failed:-see the log}"
            else
                verdict="SURVIVED" why="$ntests test(s) passed"
            fi
        fi
        # The original back, newer than the objects built from the mutant.
        cp "$scratch/original" "$file"
        touch "$file"
    fi
    case $verdict in
    caught) caught=$((caught + 1)) ;;
    SURVIVED) survived=$((survived + 1)) ;;
    STALE) stale=$((stale + 1)) ;;
    BROKEN) broken=$((broken + 1)) ;;
    esac
    line=$(printf '%-9s %-36s %4d s  %s' "$verdict" "$name" $((SECONDS - t0)) "$why")
    echo "$line"
    results+=("$line")
done

total=${#selected[@]}
echo
echo "mutants: $total run: $caught caught, $survived survived, $stale stale, $broken broken"
if [ $((survived + stale + broken)) -ne 0 ]; then
    for r in "${results[@]}"; do
        [[ "$r" == caught* ]] || echo "  $r"
    done
    echo "logs: $logs"
    keep=1
    exit 1
fi
exit 0
