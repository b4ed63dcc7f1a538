//! End-to-end tests on real database files and the real `kioskctl` binary.

mod backup;
mod bad_input;
mod cli;
mod crash;
mod cupsd;
mod documents;
mod foreign;
mod integrity;
mod keys;
mod orders;
mod package;
mod readers;
mod ses;
mod sm2;
mod support;
mod sync;
mod tamper;
