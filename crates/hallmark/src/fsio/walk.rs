//! The one walk of the paths a user names (`audit`, `pin`): regular files, and symlinks
//! whose target stays inside one of the directories given. A directory link back to a
//! directory it sits in is a loop, not followed twice; `.git`, `node_modules` and `target`
//! are not descended into unless given; the walk has limits. Everything it does not follow
//! is returned with the reason, never passed over in silence: a caller says only which
//! files it reads and which names make an entry left out matter.

use std::path::{Path, PathBuf};

/// Directories not descended into unless given as a path: other tools' data.
pub(crate) const SKIPPED_DIRS: [&str; 3] = [".git", "node_modules", "target"];
/// Most directory entries looked at under the paths given: links can make a small tree
/// look endless without ever forming a loop.
pub(crate) const MAX_ENTRIES: usize = 1_000_000;
/// Most files found under the paths given.
pub(crate) const MAX_FILES: usize = 100_000;

/// What a caller of the walk reads.
pub trait Select {
    /// What the caller knows of a file from its path.
    type Kind;
    /// The kind of a regular file at `path`, or `None` when the caller does not read it.
    fn file(&self, path: &Path) -> Option<Self::Kind>;
    /// Whether an entry at `path` that is left out may hold what the caller reads, going by
    /// its name: leaving it out is then an error, else a warning (a directory always may).
    fn may_hold(&self, path: &Path) -> bool;
}

/// A file to read: where it was found, its kind, and, for a symlink met in the walk, the
/// directory its target must stay inside when it is read.
#[derive(Debug)]
pub struct Found<K> {
    /// The path, as found under the path given.
    pub path: PathBuf,
    /// What the caller said it is.
    pub kind: K,
    /// The directory given that a linked file must still be inside when read.
    pub root: Option<PathBuf>,
}

/// Why an entry was not followed.
#[derive(Debug)]
pub enum Why {
    /// A path given that cannot be read.
    Unreadable(std::io::Error),
    /// A path given that is neither a regular file nor a directory.
    NotFileOrDir,
    /// A path given: a regular file of no kind the caller reads.
    NotSelected,
    /// A directory that cannot be listed.
    Unlisted(std::io::Error),
    /// The walk reached `MAX_ENTRIES` or `MAX_FILES` in this directory and stopped.
    Stopped,
    /// An entry whose type cannot be read.
    NoFileType,
    /// A FIFO, socket or device.
    Special,
    /// A symlink that cannot be followed (dangling, or a loop of links).
    Broken(std::io::Error),
    /// A symlink that leads outside every directory given.
    Outside,
    /// A symlink to something that is neither a regular file nor a directory.
    ToSpecial,
    /// A directory link back to this directory, which contains it.
    Loop(PathBuf),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable(e) => write!(f, "cannot be read: {e}"),
            Self::NotFileOrDir => f.write_str("not a regular file or a directory"),
            Self::NotSelected => f.write_str("not a file of a kind read here"),
            Self::Unlisted(e) => write!(f, "cannot be listed: {e}"),
            Self::Stopped => write!(
                f,
                "the walk stopped at {MAX_ENTRIES} entries or {MAX_FILES} files"
            ),
            Self::NoFileType => f.write_str("cannot be read (no file type)"),
            Self::Special => f.write_str("not a regular file (a FIFO, socket or device)"),
            Self::Broken(e) => write!(f, "a symlink that cannot be followed ({e})"),
            Self::Outside => f.write_str("a symlink that leads outside the tree given"),
            Self::ToSpecial => f.write_str("a symlink to something that is not a regular file"),
            Self::Loop(real) => {
                write!(f, "a symlink back to {}, which contains it", real.display())
            }
        }
    }
}

/// An entry the walk did not follow.
#[derive(Debug)]
pub struct Skipped {
    /// The entry, as found under the path given.
    pub path: PathBuf,
    /// Why.
    pub why: Why,
}

/// What a walk found: files to read, sorted by path, and what it did not follow.
#[derive(Debug)]
pub struct Tree<K> {
    /// Files the caller reads.
    pub files: Vec<Found<K>>,
    /// Left out where something the caller reads may be: what they hold is unknown.
    pub errors: Vec<Skipped>,
    /// Left out where nothing the caller reads can be (by name), and loops, whose content
    /// is walked where the loop starts.
    pub warnings: Vec<Skipped>,
}

impl<K> Tree<K> {
    fn error(&mut self, path: &Path, why: Why) {
        self.errors.push(Skipped {
            path: path.to_path_buf(),
            why,
        });
    }

    /// An entry met in the walk and left out: an error when it may hold what `select`
    /// reads (a directory, or a name of a kind it reads), else a warning.
    fn skipped(&mut self, select: &impl Select, path: &Path, dir: bool, why: Why) {
        let entry = Skipped {
            path: path.to_path_buf(),
            why,
        };
        if dir || select.may_hold(path) {
            self.errors.push(entry);
        } else {
            self.warnings.push(entry);
        }
    }
}

/// A directory being walked: its real path, and the one it was reached from.
struct Dir {
    real: PathBuf,
    parent: Option<usize>,
}

/// The walk's state: the directories given, every directory entered, and those still to
/// list, each as (path as shown, index in `dirs`).
struct Walker<'s, S: Select> {
    select: &'s S,
    tree: Tree<S::Kind>,
    roots: Vec<PathBuf>,
    dirs: Vec<Dir>,
    stack: Vec<(PathBuf, usize)>,
}

/// Walks `paths` for the files `select` reads (see the module's documentation).
pub fn walk<S: Select>(paths: &[PathBuf], select: &S) -> Tree<S::Kind> {
    let mut w = Walker {
        select,
        tree: Tree {
            files: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        },
        roots: Vec::new(),
        dirs: Vec::new(),
        stack: Vec::new(),
    };
    for p in paths {
        w.given(p);
    }
    let mut entries = 0usize;
    'walk: while let Some((shown, index)) = w.stack.pop() {
        let listing = match std::fs::read_dir(&shown) {
            Ok(listing) => listing,
            Err(e) => {
                w.tree.error(&shown, Why::Unlisted(e));
                continue;
            }
        };
        let mut names: Vec<_> = listing.flatten().collect();
        names.sort_by_key(|e| e.file_name());
        for entry in names {
            entries += 1;
            if entries > MAX_ENTRIES || w.tree.files.len() >= MAX_FILES {
                w.tree.error(&shown, Why::Stopped);
                break 'walk;
            }
            w.entry(&entry, index);
        }
    }
    let mut tree = w.tree;
    tree.files.sort_by(|a, b| a.path.cmp(&b.path));
    tree
}

impl<S: Select> Walker<'_, S> {
    /// A path given is followed wherever it leads: the user named it.
    fn given(&mut self, p: &Path) {
        let (real, meta) = match std::fs::canonicalize(p)
            .and_then(|real| std::fs::metadata(&real).map(|m| (real, m)))
        {
            Ok(found) => found,
            Err(e) => return self.tree.error(p, Why::Unreadable(e)),
        };
        if meta.is_dir() {
            self.roots.push(real.clone());
            self.enter(p.to_path_buf(), real, None);
        } else if !meta.is_file() {
            self.tree.error(p, Why::NotFileOrDir);
        } else if let Some(kind) = self.select.file(p) {
            self.tree.files.push(Found {
                path: p.to_path_buf(),
                kind,
                root: None,
            });
        } else {
            self.tree.error(p, Why::NotSelected);
        }
    }

    fn enter(&mut self, shown: PathBuf, real: PathBuf, parent: Option<usize>) {
        self.dirs.push(Dir { real, parent });
        self.stack.push((shown, self.dirs.len() - 1));
    }

    /// One entry of the directory `index`.
    fn entry(&mut self, entry: &std::fs::DirEntry, index: usize) {
        let path = entry.path();
        let name = entry.file_name();
        let Ok(file_type) = entry.file_type() else {
            return self.tree.error(&path, Why::NoFileType);
        };
        if SKIPPED_DIRS.iter().any(|d| name == *d) && !file_type.is_file() {
            return;
        }
        if file_type.is_dir() {
            // A directory inside a real directory is real: no link to resolve.
            let real = self.dirs[index].real.join(&name);
            self.enter(path, real, Some(index));
        } else if file_type.is_file() {
            // A regular file met in the walk is where the walk says it is; only a linked
            // file needs its target checked again when it is read.
            if let Some(kind) = self.select.file(&path) {
                self.tree.files.push(Found {
                    path,
                    kind,
                    root: None,
                });
            }
        } else if file_type.is_symlink() {
            self.link(path, index);
        } else {
            self.tree.skipped(self.select, &path, false, Why::Special);
        }
    }

    /// A symlink met in the walk: followed when its target is inside a directory given and
    /// is not a directory the link already sits in; reported otherwise.
    fn link(&mut self, path: PathBuf, index: usize) {
        let (real, meta) = match std::fs::canonicalize(&path)
            .and_then(|real| std::fs::metadata(&real).map(|m| (real, m)))
        {
            Ok(found) => found,
            Err(e) => {
                return self.tree.skipped(self.select, &path, false, Why::Broken(e));
            }
        };
        let Some(root) = self.roots.iter().find(|r| real.starts_with(r)) else {
            return self
                .tree
                .skipped(self.select, &path, meta.is_dir(), Why::Outside);
        };
        if meta.is_dir() {
            let mut up = Some(index);
            while let Some(i) = up {
                if self.dirs[i].real == real {
                    // Its content is walked where the loop starts.
                    self.tree.warnings.push(Skipped {
                        path,
                        why: Why::Loop(real),
                    });
                    return;
                }
                up = self.dirs[i].parent;
            }
            self.enter(path, real, Some(index));
        } else if meta.is_file() {
            if let Some(kind) = self.select.file(&path) {
                let root = Some(root.clone());
                self.tree.files.push(Found { path, kind, root });
            }
        } else {
            self.tree.skipped(self.select, &path, false, Why::ToSpecial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Reads `*.yml` only.
    struct Yaml;

    impl Select for Yaml {
        type Kind = ();
        fn file(&self, path: &Path) -> Option<()> {
            self.may_hold(path).then_some(())
        }
        fn may_hold(&self, path: &Path) -> bool {
            path.extension().is_some_and(|e| e == "yml")
        }
    }

    fn names(skipped: &[Skipped], root: &Path) -> Vec<String> {
        skipped
            .iter()
            .map(|s| {
                let path = s.path.strip_prefix(root).unwrap_or(&s.path);
                format!("{}: {}", path.display(), s.why)
            })
            .collect()
    }

    #[test]
    fn links_are_followed_inside_the_tree_and_everything_left_out_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        for d in ["a/b", ".git", "node_modules", "target"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in ["a/b/c.yml", "a/README", ".git/x.yml", "target/x.yml"] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        std::fs::write(outside.path().join("o.yml"), "x").unwrap();
        symlink("b/c.yml", root.join("a/linked.yml")).unwrap();
        symlink("..", root.join("a/b/up")).unwrap();
        symlink("a", root.join("alias")).unwrap();
        symlink(outside.path().join("o.yml"), root.join("out.yml")).unwrap();
        symlink(outside.path(), root.join("outdir")).unwrap();
        symlink(outside.path().join("o.yml"), root.join("licence")).unwrap();
        symlink("nowhere", root.join("dangling.yml")).unwrap();
        for fifo in ["pipe", "pipe.yml"] {
            let made = std::process::Command::new("mkfifo")
                .arg(root.join(fifo))
                .status()
                .unwrap();
            assert!(made.success());
        }
        symlink("pipe", root.join("pipe-link")).unwrap();

        let tree = walk(std::slice::from_ref(&root), &Yaml);
        let files: Vec<_> = tree
            .files
            .iter()
            .map(|f| {
                let path = f.path.strip_prefix(&root).unwrap().display().to_string();
                (path, f.root.is_some())
            })
            .collect();
        // `alias` is a second way into `a`, not a loop: walked again under its name.
        assert_eq!(
            files,
            [
                ("a/b/c.yml".to_string(), false),
                ("a/linked.yml".to_string(), true),
                ("alias/b/c.yml".to_string(), false),
                ("alias/linked.yml".to_string(), true),
            ]
        );
        let mut errors = names(&tree.errors, &root);
        errors.sort();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("dangling.yml: a symlink that cannot be followed"));
        assert_eq!(
            errors[1],
            "out.yml: a symlink that leads outside the tree given"
        );
        assert_eq!(
            errors[2],
            "outdir: a symlink that leads outside the tree given"
        );
        assert_eq!(
            errors[3],
            "pipe.yml: not a regular file (a FIFO, socket or device)"
        );
        let mut warnings = names(&tree.warnings, &root);
        warnings.sort();
        let a = std::fs::canonicalize(root.join("a")).unwrap();
        let back = format!("a symlink back to {}, which contains it", a.display());
        assert_eq!(
            warnings,
            [
                format!("a/b/up: {back}"),
                format!("alias/b/up: {back}"),
                "licence: a symlink that leads outside the tree given".to_string(),
                "pipe-link: a symlink to something that is not a regular file".to_string(),
                "pipe: not a regular file (a FIFO, socket or device)".to_string(),
            ]
        );
    }

    #[test]
    fn paths_given_are_named_when_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let skipped = dir.path().join("target");
        std::fs::create_dir(&skipped).unwrap();
        std::fs::write(skipped.join("a.yml"), "x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let paths = [
            skipped,
            dir.path().join("notes.txt"),
            dir.path().join("missing"),
            PathBuf::from("/dev/null"),
        ];
        let tree = walk(&paths, &Yaml);
        // A skipped directory given by name is walked: the user asked for it.
        assert_eq!(tree.files.len(), 1);
        let errors = names(&tree.errors, dir.path());
        assert_eq!(errors[0], "notes.txt: not a file of a kind read here");
        assert!(errors[1].starts_with("missing: cannot be read: "));
        assert_eq!(errors[2], "/dev/null: not a regular file or a directory");
        assert!(tree.warnings.is_empty());
    }
}
