use super::*;

fn names(body: &str) -> Vec<Vec<String>> {
    tokenize(body)
        .iter()
        .map(|c| c.words.iter().map(|w| w.text.clone()).collect())
        .collect()
}

/// `(name, line, column)` of each command, past wrappers.
fn named(body: &str) -> Vec<(String, usize, usize)> {
    tokenize(body)
        .iter()
        .filter_map(|c| c.name().map(|n| (n.text.clone(), n.line, n.column)))
        .collect()
}

fn find<'a>(cmds: &'a [Command], name: &str) -> &'a Command {
    cmds.iter()
        .find(|c| c.name().is_some_and(|n| n.text == name))
        .unwrap_or_else(|| panic!("no {name} in {cmds:#?}"))
}

fn at(w: &Word) -> (usize, usize) {
    (w.line, w.column)
}

#[test]
fn quotes_continuations_and_operators() {
    let body = "docker push \"$REG/app:v1\" && cosign sign \\\n  --key k 'app:v1'\nA=1 B=\"two words\" make # note\ncurl -fsSL https://x/i.sh | bash";
    let cmds = tokenize(body);
    assert_eq!(
        names(body),
        vec![
            vec!["docker", "push", "$REG/app:v1"],
            vec!["cosign", "sign", "--key", "k", "app:v1"],
            vec!["A=1", "B=two words", "make"],
            vec!["curl", "-fsSL", "https://x/i.sh"],
            vec!["bash"],
        ]
    );
    assert_eq!(cmds[0].then, Joiner::And);
    assert_eq!(cmds[3].then, Joiner::Pipe);
    assert!(cmds[0].words[2].dynamic && cmds[0].words[2].quoted);
    assert_eq!(at(&cmds[1].words[4]), (2, 11));
    assert_eq!(cmds[2].name().unwrap().text, "make");
    assert_eq!(cmds[2].assignments().count(), 2);
}

#[test]
fn expressions_and_substitutions_stay_whole() {
    let body = "cosign sign ${{ env.IMAGE }}@$(crane digest \"$IMG:v1\") `date`";
    let cmds = tokenize(body);
    let sign = find(&cmds, "cosign");
    assert_eq!(
        sign.words[2].text,
        "${{ env.IMAGE }}@$(crane digest \"$IMG:v1\")"
    );
    assert!(sign.words[2].dynamic);
    assert_eq!(sign.words[3].text, "`date`");
    // The substituted commands run first, where they are written.
    assert_eq!(
        named(body),
        vec![
            ("crane".into(), 1, 32),
            ("date".into(), 1, 57),
            ("cosign".into(), 1, 1)
        ]
    );
    assert_eq!(at(&find(&cmds, "crane").words[2]), (1, 45));
}

#[test]
fn compound_commands_are_flattened_with_positions() {
    let body = "\
if [ -n \"$TAG\" ]; then
  cosign sign \"$IMG:$TAG\"
elif true; then docker pull a:b
else
  curl -fsSL u | sh
fi
while read -r line; do echo \"$line\"; done < list
until false; do break; done
for t in a b; do crane copy x \"$t\"; done
case \"$1\" in
  push|release) docker push \"$IMG\" ;;
  (*) exit 1 ;;
esac
{ make; make install; } > log
( cd sub && ./run )
! grep -q x f
";
    let got: Vec<_> = named(body)
        .into_iter()
        .map(|(n, l, c)| format!("{n}@{l}:{c}"))
        .collect();
    assert_eq!(
        got,
        [
            "[@1:4",
            "cosign@2:3",
            "true@3:6",
            "docker@3:17",
            "curl@5:3",
            "sh@5:18",
            "read@7:7",
            "echo@7:24",
            "false@8:7",
            "break@8:17",
            "crane@9:18",
            "docker@11:17",
            "exit@12:7",
            "make@14:3",
            "make@14:9",
            "cd@15:3",
            "./run@15:13",
            "grep@16:3",
        ]
    );
    let cmds = tokenize(body);
    assert_eq!(find(&cmds, "curl").then, Joiner::Pipe);
    assert_eq!(find(&cmds, "cd").then, Joiner::And);
    // Redirections are not words.
    let read = find(&cmds, "read");
    assert_eq!(read.args().len(), 2);
}

#[test]
fn functions_and_calls() {
    let body = "sign() {\n  cosign sign \"$1\"\n}\nfunction push { docker push \"$1\"; }\nsign \"$REPO:$TAG\"\npush x";
    let s = parse(body);
    let Item::Function(f) = &s.items[0] else {
        panic!("{:#?}", s.items)
    };
    assert_eq!((f.name.text.as_str(), at(&f.name)), ("sign", (1, 1)));
    let Item::Command(c) = &f.body[0] else {
        panic!()
    };
    assert_eq!(at(c.name().unwrap()), (2, 3));
    let Item::Function(g) = &s.items[1] else {
        panic!()
    };
    assert_eq!(g.name.text, "push");
    let calls: Vec<_> = s
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Call(c) => Some((c.name.text.clone(), c.args[0].text.clone(), at(&c.args[0]))),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("sign".into(), "$REPO:$TAG".into(), (5, 6)),
            ("push".into(), "x".into(), (6, 6))
        ]
    );
    // The flattened view has the bodies where written.
    assert_eq!(
        named(body).into_iter().map(|n| n.0).collect::<Vec<_>>(),
        ["cosign", "docker", "sign", "push"]
    );
}

#[test]
fn wrappers_are_looked_through() {
    for (body, name, first_arg) in [
        ("sudo -E -u root bash -c x", "bash", "-c"),
        ("sudo --preserve-env apt-get install", "apt-get", "install"),
        ("env -i A=1 B=2 cosign sign x", "cosign", "sign"),
        ("time cosign sign x", "cosign", "sign"),
        ("/usr/bin/time -f %e -o t cosign sign x", "cosign", "sign"),
        ("exec -a n cosign sign x", "cosign", "sign"),
        ("timeout -s KILL 5m cosign sign x", "cosign", "sign"),
        ("timeout 30 docker pull a", "docker", "pull"),
        ("nohup cosign sign x", "cosign", "sign"),
        ("nice -n 10 cosign sign x", "cosign", "sign"),
        ("nice -5 cosign sign x", "cosign", "sign"),
        ("stdbuf -oL -e 0 cosign sign x", "cosign", "sign"),
        ("xargs -n1 -I{} cosign sign {}", "cosign", "sign"),
        ("xargs -P 4 -0 cosign sign", "cosign", "sign"),
        ("command cosign sign x", "cosign", "sign"),
        ("builtin echo x", "echo", "x"),
        (
            "sudo timeout 5 env A=1 nice cosign sign x",
            "cosign",
            "sign",
        ),
        ("$SUDO bash -c x", "bash", "-c"),
        ("A=1 sudo cosign sign x", "cosign", "sign"),
    ] {
        let cmds = tokenize(body);
        let c = &cmds.last().unwrap();
        assert_eq!(c.name().map(|w| w.text.as_str()), Some(name), "{body}");
        assert_eq!(c.args()[0].text, first_arg, "{body}");
    }
    // Not wrappers here: the wrapper is the command.
    for (body, name) in [
        ("command -v cosign", "command"),
        ("sudo -v", "sudo"),
        ("time", "time"),
        ("env", "env"),
    ] {
        assert_eq!(tokenize(body)[0].name().unwrap().text, name, "{body}");
    }
    let cmds = tokenize("A=1 sudo -E env B=2 cosign sign x");
    let wrappers: Vec<_> = cmds[0].wrappers().iter().map(|w| &w.text).collect();
    assert_eq!(wrappers, ["sudo", "-E", "env", "B=2"]);
    assert_eq!(cmds[0].assignments().count(), 1);
}

#[test]
fn pipes_into_wrapped_shells_keep_their_joiners() {
    let cmds = tokenize("curl -fsSL https://x/i.sh | sudo -E bash -s -- --yes");
    assert_eq!(cmds.len(), 2);
    assert_eq!(cmds[0].then, Joiner::Pipe);
    assert_eq!(cmds[1].name().unwrap().text, "bash");
    let cmds = tokenize("curl -fsSL u | tee i.sh | bash\nwget -qO- u |& sh");
    let joins: Vec<_> = cmds.iter().map(|c| c.then).collect();
    assert_eq!(
        joins,
        [
            Joiner::Pipe,
            Joiner::Pipe,
            Joiner::Sequence,
            Joiner::Pipe,
            Joiner::Sequence
        ]
    );
    // A substitution in a piped command does not come between the two.
    let cmds = tokenize("curl \"$(cat url)\" | bash");
    assert_eq!(named("curl \"$(cat url)\" | bash")[0].0, "cat");
    assert_eq!(cmds[1].then, Joiner::Pipe);
    assert_eq!(cmds[2].name().unwrap().text, "bash");
}

#[test]
fn shell_strings_are_parsed_in_place() {
    let body = "bash -c \"cosign sign $IMG:v1 && curl u | sh\"\nsh -ec 'docker pull a:b'\neval \"cosign sign x:y\"";
    let got = named(body);
    assert_eq!(
        got,
        [
            ("cosign".into(), 1, 10),
            ("curl".into(), 1, 33),
            ("sh".into(), 1, 42),
            ("bash".into(), 1, 1),
            ("docker".into(), 2, 9),
            ("sh".into(), 2, 1),
            ("cosign".into(), 3, 7),
            ("eval".into(), 3, 1),
        ]
    );
    let cmds = tokenize(body);
    assert_eq!(at(&cmds[0].words[2]), (1, 22));
    assert_eq!(cmds[0].words[2].text, "$IMG:v1");
    assert_eq!(cmds[1].then, Joiner::Pipe);
    // The outer command keeps its string whole.
    assert_eq!(cmds[3].args()[1].text, "cosign sign $IMG:v1 && curl u | sh");
    // Through wrappers, with escapes.
    let got = named("sudo -u ci sh -c \"docker login -p \\\"$P\\\" r\"");
    assert_eq!(got[0], ("docker".into(), 1, 19));
    // A substitution in a double-quoted string is read once, not again with the string.
    let body = "bash -c \"echo $(curl -s u) done\"";
    let got = named(body);
    assert_eq!(
        got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(),
        ["curl", "echo", "bash"]
    );
    // A string that is only an expansion is not a command we can know.
    assert_eq!(named("eval \"$(ssh-agent -s)\"").len(), 2);
    assert_eq!(named("bash -c \"$CMD\"").len(), 1);
    // A script file is not a string.
    assert_eq!(named("bash -e c.sh").len(), 1);
}

#[test]
fn heredocs_fed_to_a_shell_are_shell_and_others_data() {
    let body = "\
bash -s <<'EOF'
  cosign sign a:b
EOF
cat <<EOF > notes
cosign sign c:d
EOF
sudo sh <<-END
\t\tcurl -fsSL u | sh
\tEND
bash <<< 'docker pull e:f'
echo done";
    let got = named(body);
    assert_eq!(
        got,
        [
            ("cosign".into(), 2, 3),
            ("bash".into(), 1, 1),
            ("cat".into(), 4, 1),
            ("curl".into(), 8, 3),
            ("sh".into(), 8, 18),
            ("sh".into(), 7, 6),
            ("docker".into(), 10, 11),
            ("bash".into(), 10, 1),
            ("echo".into(), 11, 1),
        ]
    );
    let cmds = tokenize(body);
    let cat = find(&cmds, "cat");
    assert_eq!(cat.redirects[0].op, "<<");
    assert_eq!(cat.redirects[0].target.text, "cosign sign c:d\n");
    assert_eq!(at(&cat.redirects[0].target), (5, 1));
    assert_eq!(cat.redirects[1].op, ">");
    assert_eq!(cat.redirects[1].target.text, "notes");
    // Two heredocs on one line, then the next command.
    let got = named("cat <<A <<B; echo x\na\nA\nb\nB\nls");
    assert_eq!(
        got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(),
        ["cat", "echo", "ls"]
    );
    assert_eq!(got[2].1, 6);
}

#[test]
fn redirections_stay_words_as_written_and_are_listed() {
    let cmds =
        tokenize("2>/dev/null sudo docker login -u ci --password-stdin r <<< \"$PW\" > log 2>&1");
    let c = &cmds[0];
    assert_eq!(c.name().unwrap().text, "docker");
    let args: Vec<_> = c.args().iter().map(|w| w.text.as_str()).collect();
    assert_eq!(
        args,
        [
            "login",
            "-u",
            "ci",
            "--password-stdin",
            "r",
            "<<<",
            "$PW",
            ">",
            "log",
            "2>&1"
        ]
    );
    let ops: Vec<_> = c
        .redirects
        .iter()
        .map(|r| (r.fd, r.op, r.target.text.as_str(), at(&r.target)))
        .collect();
    assert_eq!(
        ops,
        [
            (Some(2), ">", "/dev/null", (1, 3)),
            (None, "<<<", "$PW", (1, 60)),
            (None, ">", "log", (1, 68)),
            (Some(2), ">&", "1", (1, 75)),
        ]
    );
    // Glued here-strings stay one word; a command of redirections only has no name.
    let cmds = tokenize("docker login --password-stdin <<<pw\n> out");
    assert_eq!(cmds[0].args().last().unwrap().text, "<<<pw");
    assert_eq!(cmds[1].name(), None);
    assert_eq!(
        tokenize("sudo -v 2>/dev/null")[0].name().unwrap().text,
        "sudo"
    );
}

#[test]
fn lines_starting_with_a_joiner_continue_the_previous_one() {
    // Dockerfile readers join `RUN a \` lines but keep their newlines.
    let cmds =
        tokenize("curl -sSL https://x/i.sh \n    | sh\napt-get update \n && apt-get install -y x");
    let joins: Vec<_> = cmds.iter().map(|c| c.then).collect();
    assert_eq!(
        joins,
        [
            Joiner::Pipe,
            Joiner::Sequence,
            Joiner::And,
            Joiner::Sequence
        ]
    );
}

#[test]
fn process_substitution_and_backquotes() {
    let body = "source <(curl -s u)\ndiff <(sort a) >(tee b)\nv=`curl -s u | sh`";
    let got: Vec<_> = named(body)
        .into_iter()
        .map(|(n, l, c)| format!("{n}@{l}:{c}"))
        .collect();
    assert_eq!(
        got,
        [
            "curl@1:10",
            "source@1:1",
            "sort@2:8",
            "tee@2:18",
            "diff@2:1",
            "curl@3:4",
            "sh@3:16"
        ]
    );
    let cmds = tokenize(body);
    assert_eq!(cmds[0].then, Joiner::Sequence);
    assert_eq!(find(&cmds, "source").args()[0].text, "<(curl -s u)");
    assert_eq!(cmds[5].then, Joiner::Pipe);
}

#[test]
fn data_flow_items() {
    let body = "\
IMG=ghcr.io/o/app
export TAG=\"v1\" PATH
local -r n=3
readonly R=x
declare -a L=(a b)
A=1 B+=2 make
for t in $TAGS latest; do cosign sign \"$IMG:$t\"; done
for x; do :; done
read -r a b <<< \"$v\"
read -ra arr
mapfile -t lines < f
readarray
";
    let s = parse(body);
    let assigns: Vec<_> = s
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Assign(a) => Some((
                a.name.clone(),
                a.value.text.clone(),
                a.kind,
                a.append,
                at(&a.value),
            )),
            _ => None,
        })
        .collect();
    use AssignKind::*;
    assert_eq!(
        assigns,
        [
            ("IMG".into(), "ghcr.io/o/app".into(), Shell, false, (1, 5)),
            ("TAG".into(), "v1".into(), Export, false, (2, 12)),
            ("n".into(), "3".into(), Local, false, (3, 12)),
            ("R".into(), "x".into(), Readonly, false, (4, 12)),
            ("L".into(), "(a b)".into(), Declare, false, (5, 14)),
            ("A".into(), "1".into(), CommandEnv, false, (6, 3)),
            ("B".into(), "2".into(), CommandEnv, true, (6, 8)),
        ]
    );
    let fors: Vec<_> = s
        .items
        .iter()
        .filter_map(|i| match i {
            Item::For(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(fors[0].var.text, "t");
    let words = fors[0].words.as_ref().unwrap();
    assert_eq!(
        words
            .iter()
            .map(|w| (w.text.as_str(), at(w)))
            .collect::<Vec<_>>(),
        [("$TAGS", (7, 10)), ("latest", (7, 16))]
    );
    let Item::Command(c) = &fors[0].body[0] else {
        panic!()
    };
    assert_eq!(c.name().unwrap().text, "cosign");
    assert!(fors[1].words.is_none());
    let reads: Vec<_> = s
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Read(r) => Some((
                r.targets.iter().map(|t| t.text.clone()).collect::<Vec<_>>(),
                r.array,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        reads,
        [
            (vec!["a".to_string(), "b".into()], false),
            (vec!["arr".into()], true),
            (vec!["lines".into()], true),
            (vec!["MAPFILE".into()], true),
        ]
    );
    // Assignments come right before their command.
    let pos = |pred: &dyn Fn(&Item) -> bool| s.items.iter().position(pred).unwrap();
    let make =
        pos(&|i| matches!(i, Item::Command(c) if c.name().is_some_and(|n| n.text == "make")));
    assert!(matches!(&s.items[make - 1], Item::Assign(a) if a.name == "B"));
}

#[test]
fn ci_templating_does_not_hide_the_rest() {
    // GitHub expressions, Makefile variables, Groovy interpolation, half-valid shell.
    let body = "\
echo ${{ github.ref }} $(IMAGE) ${env.TAG} $$HOME
fi
docker push $(IMAGE):$(VERSION)
echo 'unterminated
cosign sign a:b";
    let got = named(body);
    assert_eq!(
        got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(),
        ["echo", "docker", "echo"]
    );
    assert_eq!(got[1], ("docker".into(), 3, 1));
    // A stray closer or `)` does not end the body.
    assert_eq!(named("done\n)\n}\nesac\nls").last().unwrap().0, "ls");
    // `[[ … ]]` operators are its words, not separators.
    let cmds = tokenize("[[ -f a && ( -n $b || x < y ) ]] && cosign sign x");
    assert_eq!(cmds.len(), 2);
    assert_eq!(cmds[0].then, Joiner::And);
    assert_eq!(cmds[1].name().unwrap().text, "cosign");
    // PowerShell's parenthesised calls stay words.
    let cmds =
        tokenize("iex ((New-Object System.Net.WebClient).DownloadString('https://x/i.ps1'))");
    assert_eq!(cmds.len(), 1);
    assert!(cmds[0].args()[0].text.contains("DownloadString"));
    // Arithmetic is not a command.
    assert_eq!(
        names("(( i++ )); echo $((1 + 2))"),
        [["echo", "$((1 + 2))"]]
    );
}

#[test]
fn limits_are_reported() {
    let deep = "( ".repeat(10_000);
    assert_eq!(parse(&deep).limit, Some(Limit::Depth));
    let deep = "{ ".repeat(10_000);
    assert_eq!(parse(&deep).limit, Some(Limit::Depth));
    let deep = "echo $( ".repeat(10_000);
    assert_eq!(parse(&deep).limit, Some(Limit::Depth));
    let deep = "bash -c '".repeat(200);
    assert_eq!(parse(&deep).limit, None);
    let many = "a;".repeat(MAX_COMMANDS + 10);
    let s = parse(&many);
    assert_eq!(s.limit, Some(Limit::Commands));
    assert_eq!(s.commands().len(), MAX_COMMANDS);
    // Strings parsed again and again share one budget.
    let words = "a ".repeat(100_000);
    let s = parse(&format!("eval \"eval 'eval {words}'\""));
    assert_eq!(s.limit, Some(Limit::Nested));
    assert_eq!(s.commands().len(), 3);
    let s = parse(&format!("eval \"eval '{words}'\""));
    assert_eq!((s.limit, s.commands().len()), (None, 3));
    let big = "a ".repeat(MAX_SCRIPT_BYTES);
    let s = parse(&big);
    assert_eq!(s.limit, Some(Limit::Bytes));
    assert!(s.commands()[0].words.len() <= MAX_SCRIPT_BYTES / 2);
    assert_eq!(parse("if a; then b; fi").limit, None);
}

#[test]
fn hostile_input_ends() {
    for body in [
        "'unterminated",
        "\"also",
        "$(((((",
        "\\",
        "${{",
        "`",
        "a |",
        "|| &&",
        "<<",
        "cat <<",
        "cat <<E\n",
        "f() ",
        "function",
        "case",
        "case x in",
        "case x in a",
        "for",
        "for x in",
        "[[",
        "((",
        "a=(",
        "eval",
        "bash -c",
        "`\\",
        "$(<<A\n)\nA",
        "\u{F8FF}$(a)",
        "x 2>",
        "&>",
        ";;&",
        "a && || b",
        "! !",
        "{ } ( )",
    ] {
        let s = parse(body);
        for c in s.commands() {
            let _ = (c.name(), c.args(), c.wrappers());
        }
    }
}

mod random {
    use super::*;
    use proptest::prelude::*;

    const PIECES: &[&str] = &[
        " ", "\n", ";", "&", "&&", "|", "||", "(", ")", "{", "}", "$(", "`", "'", "\"", "\\", "<<",
        "<<-", "<<<", ">", "<(", "if", "then", "fi", "for", "in", "do", "done", "case", "esac",
        ";;", "bash -c", "eval", "sudo", "xargs", "EOF", "f()", "function", "[[", "]]", "((", "))",
        "${{", "}}", "$x", "#", "=", "a", "\t", "\u{F8FF}", "é",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn shellish_input_never_panics(ix in proptest::collection::vec(0..PIECES.len(), 0..80)) {
            let body: String = ix.iter().map(|&i| PIECES[i]).collect();
            let s = parse(&body);
            for c in s.commands() {
                let _ = (c.name(), c.args(), c.wrappers());
                for w in &c.words {
                    prop_assert!(w.line >= 1 && w.column >= 1);
                    prop_assert!(w.line <= body.lines().count().max(1) + 1);
                }
            }
        }

        #[test]
        fn random_text_never_panics(body in "\\PC{0,200}") {
            let _ = parse(&body);
        }
    }
}

#[test]
fn a_script_kept_in_a_variable_is_read_where_a_shell_runs_it() {
    let run = |runner: &str| {
        format!(
            "snippet=\"$(cat << EOF\nset -e\ncurl -so- https://x/install.sh | bash || {{\n  echo retry\n}}\nEOF\n)\"\n{runner}\n"
        )
    };
    for runner in [
        "su ${USERNAME} -c \"${snippet}\" 2>&1",
        "bash -c \"$snippet\"",
        "sudo -u dev bash -lc \"$snippet\"",
        "eval \"$snippet\"",
    ] {
        let got: Vec<(String, usize, usize)> = named(&run(runner))
            .into_iter()
            .filter(|(n, _, _)| n == "curl")
            .collect();
        // Read where it is written in the file, not where it runs.
        assert_eq!(got, [("curl".to_string(), 3, 1)], "{runner}");
    }
    // Kept but never run, run by a program that is not a shell, or replaced before it runs:
    // the heredoc is `cat`'s input, not commands.
    for runner in [
        "echo \"$snippet\"",
        "printf '%s' \"$snippet\" > install.sh",
        "snippet=done\nbash -c \"$snippet\"",
    ] {
        let got: Vec<_> = named(&run(runner))
            .into_iter()
            .filter(|(n, _, _)| n == "curl")
            .collect();
        assert!(got.is_empty(), "{runner}: {got:?}");
    }
    // Odd values end without a script.
    for value in [
        "S=\"$(cat <<\"",
        "S=$(cat <<EOF",
        "S=\"$(cat << )\"",
        "S=\"$(cat\"",
    ] {
        let _ = named(&format!("{value}\nbash -c \"$S\"\n"));
    }
}
