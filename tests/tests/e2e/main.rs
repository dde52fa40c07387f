//! ferry's end-to-end tests: one test binary, one module per area.

mod backups;
mod bad_input;
mod cli;
mod conformance;
mod daemon;
mod disk;
mod evidence;
mod faults;
mod mirror;
mod newuser;
mod page;
mod restores;
mod safety;
mod transfer;
mod zilliz;
