//! Readers for pipeline files that are not YAML workflows: each turns one kind of file into
//! the shell scripts it runs, with where every part of them is in the file.

pub mod just;
pub mod make;
pub mod mapped;
pub mod taskfile;
