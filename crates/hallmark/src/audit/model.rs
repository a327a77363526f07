//! One pipeline or deployment file, whatever its kind, as the rules see it: the scripts it
//! runs, the images and actions it uses, the values that may hold credentials, and what it
//! pushes. The readers (`read/`) build it; the rules (`rules/`) only read it, so a rule
//! written once applies to every CI system a reader exists for.

/// Where a text starts in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// What expands in a value where it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expands {
    /// GitHub Actions inputs and `env:`: only `${{ … }}`; `$NAME` stays as written.
    Expressions,
    /// A shell word that was not single-quoted: `$NAME`, `${NAME}`, `$(…)` and `${{ … }}`.
    Shell,
    /// GitLab CI variables, compose files, Kubernetes manifests: `$NAME`, `${NAME}`,
    /// Kubernetes' `$(NAME)` and `${{ … }}`.
    Variables,
}

/// A variable set for a script by the file (`env:`, `variables:`, `environment:`), as
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// Its value as written.
    pub value: String,
    /// What expands in the value.
    pub expands: Expands,
}

/// Which interpreter runs a script. Only POSIX-like shells are read today; the field is
/// where a reader says otherwise (`shell: pwsh`) once rules can use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shell {
    /// `sh`, `bash` and the like.
    #[default]
    Posix,
}

/// A script the file runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Its text, as the shell receives it (YAML quoting and block indentation removed).
    pub body: String,
    /// Where its first character is: `column` is the shift to add to a word's column on
    /// the body's first line (and on every line when `block`).
    pub line: usize,
    /// Columns before the body on its first line (0 when it starts a line).
    pub shift: usize,
    /// True for a YAML block scalar, whose every line is indented by `shift` columns.
    pub block: bool,
    /// The interpreter.
    pub shell: Shell,
    /// The variables the file sets for it, in the order they are set (later wins).
    pub env: Vec<EnvVar>,
    /// True when it runs in the shell of the script before it (GitLab's `before_script`
    /// then `script`, the lines of one list), or after it on the same files (the lines
    /// of one Makefile or just recipe, the commands of one Taskfile task): variables,
    /// downloads and verifications carry over, and `env` adds to them.
    pub continues: bool,
    /// For a body rewritten from what the file holds (a Makefile recipe, a Taskfile
    /// command with template actions), where each of its characters came from.
    pub located: Option<std::sync::Arc<crate::audit::mapped::Located>>,
}

impl Script {
    /// A script starting at `line`, shifted by `shift` columns, in a fresh shell.
    pub fn new(body: impl Into<String>, (line, shift, block): (usize, usize, bool)) -> Self {
        Self {
            body: body.into(),
            line,
            shift,
            block,
            shell: Shell::Posix,
            env: Vec::new(),
            continues: false,
            located: None,
        }
    }

    /// The place in the file of a word at (`line`, `column`) of the body.
    pub fn place(&self, line: usize, column: usize) -> Place {
        let (line, column) = match &self.located {
            None => (line, column),
            Some(located) => {
                // A character the reader wrote with no source of its own (past the end)
                // is placed where the script starts.
                let Some(p) = located.locate(line, column) else {
                    return Place {
                        line: self.line,
                        column: self.shift + 1,
                    };
                };
                if !located.relative {
                    return Place {
                        line: p.line,
                        column: p.column,
                    };
                }
                (p.line, p.column)
            }
        };
        Place {
            line: self.line + line - 1,
            column: if line == 1 || self.block {
                self.shift + column
            } else {
                column
            },
        }
    }
}

/// An image the file runs, builds from or deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// The reference, as written.
    pub text: String,
    /// Where.
    pub at: Place,
    /// What uses it, in words: "FROM", "a service container", "a Kubernetes container".
    pub what: &'static str,
}

/// An action or reusable workflow used (`uses:`), as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionUse {
    /// `owner/repo[/path]@ref`.
    pub text: String,
    /// Where.
    pub at: Place,
}

/// A scalar value of a YAML file, with the key it sits under: credentials are looked for
/// wherever they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The key it is under (the nearest, for items of a list).
    pub key: Option<String>,
    /// Its text.
    pub text: String,
    /// Where.
    pub at: Place,
}

/// A password given to a registry login that is not a script (`docker/login-action`'s
/// `password:` input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginInput {
    /// The registry as written (`docker.io` when none is).
    pub registry: String,
    /// The password's value as written.
    pub value: String,
    /// Where.
    pub at: Place,
    /// The variables known where it is given.
    pub env: Vec<EnvVar>,
}

/// One file, read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Model {
    /// Scripts, in file order.
    pub scripts: Vec<Script>,
    /// Images used outside scripts.
    pub images: Vec<ImageUse>,
    /// Actions and reusable workflows used.
    pub actions: Vec<ActionUse>,
    /// Every variable assignment the file writes outside scripts, wherever it applies:
    /// which variable takes its value from which, for the credential closure.
    pub assignments: Vec<EnvVar>,
    /// Every scalar of a YAML file.
    pub values: Vec<Value>,
    /// What expands in `values`.
    pub values_expand: Option<Expands>,
    /// Registry logins outside scripts.
    pub logins: Vec<LoginInput>,
    /// References the file pushes outside scripts (`docker/build-push-action`'s tags).
    pub pushes: Vec<String>,
    /// What values flow between the scripts of a GitHub workflow or action, outside them.
    pub flow: Flow,
    /// Scripts of the tree audited that only run a downloader on their arguments (`exec
    /// curl -sSfL "$@"`): each as a command naming it is written (`bin/scurl`), with the
    /// downloader it runs.
    pub downloaders: Vec<(String, String)>,
}

/// How values pass between the scripts of one file outside the shell: GitHub Actions
/// steps' outputs, `$GITHUB_ENV`, job outputs, inputs. Empty for other kinds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flow {
    /// For each script (same index as [`Model::scripts`]), the job and step it is, when
    /// the file has jobs and steps; shorter than `scripts` when not.
    pub steps: Vec<StepOf>,
    /// Expressions whose value is known outside any script (`steps.meta.outputs.tags`),
    /// each for the job it is seen in (`None`: everywhere).
    pub known: Vec<Known>,
    /// Job outputs (`jobs.J.outputs.X`), read as `needs.J.outputs.X` by later jobs.
    pub job_outputs: Vec<JobOutput>,
}

/// Which job and step a script is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepOf {
    /// The job's key (empty in a composite action).
    pub job: String,
    /// The step's `id:`, which names its outputs.
    pub id: Option<String>,
}

/// What a value is, as far as signing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueClass {
    /// A reference by digest, or a digest the build produced: safe to sign.
    Digest,
    /// A digest asked of the registry after the push (`crane digest app:v1`).
    Lookup,
    /// A reference by tag, or a list of them.
    Tag,
}

/// What is known of an expression's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownValue {
    /// Its class, not its text (a well-known action's output).
    Class(ValueClass),
    /// Its text, as written where it is set (expanding `${{ … }}`).
    Text(String),
}

/// An expression (`steps.meta.outputs.tags`, `inputs.image`) whose value is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The job it is known in; `None` for everywhere in the file.
    pub job: Option<String>,
    /// The expression, without `${{ }}` and spaces.
    pub expr: String,
    /// Its value.
    pub value: KnownValue,
}

/// `jobs.J.outputs.X: <text>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutput {
    /// The job.
    pub job: String,
    /// The output's name.
    pub name: String,
    /// Its value as written.
    pub text: String,
}

/// The values a file calling another gives the inputs or parameters of the one it calls,
/// at one call: a composite action's or reusable workflow's `with:`, an Azure template's
/// `parameters:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The calling file and line, as `path:line`.
    pub from: String,
    /// Each input as the called file reads it (`inputs.image`, `parameters.imageRef`),
    /// with its value at this call; `None` when that cannot be known.
    pub values: Vec<(String, Option<KnownValue>)>,
}

impl Model {
    /// The file as it runs when called with `call`'s values: each input given is that
    /// value (or unknown) everywhere in the file, instead of its default.
    pub fn called(&self, call: &Call) -> Self {
        let mut m = self.clone();
        for (expr, value) in &call.values {
            m.flow.known.retain(|k| k.job.is_some() || &k.expr != expr);
            if let Some(value) = value {
                m.flow.known.push(Known {
                    job: None,
                    expr: expr.clone(),
                    value: value.clone(),
                });
            }
        }
        // Every script reads the expressions, whichever reader built it.
        m.flow.steps.resize(m.scripts.len(), StepOf::default());
        m
    }
}
