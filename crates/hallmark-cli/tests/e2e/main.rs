//! End-to-end tests: the real `hallmark` binary against real registries on loopback, real
//! files and the independent implementations used as peers. One test binary, so the
//! harness is compiled once.

mod harness;

mod admit;
mod admit_hostile;
mod admit_keyless;
mod admit_kube;
mod admit_races;
mod admit_server;
mod annotations;
mod attacks;
mod attestations;
mod audit;
mod audit_corpus;
mod audit_flow;
mod audit_rules;
mod audit_syntax;
mod audit_systems;
mod blobs;
mod bundles;
mod cli;
mod consume;
mod everyday;
mod hostile;
mod interop;
mod json_output;
mod keyless;
mod keyless_again;
mod keyless_blobs;
mod keyless_flags;
mod keyless_guard;
mod keyless_images;
mod keyless_legacy;
mod keyless_lies;
mod keyless_registry;
mod keyless_rekor_v1;
mod keyless_sign_images;
mod keyless_stack;
mod layouts;
mod local_files;
mod manpages;
mod multiplatform;
mod pin;
mod pkcs11;
mod publish;
mod races;
mod scan;
mod signatures;
mod tls;
mod transports;
