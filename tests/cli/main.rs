//! Integration tests: the real `stopbench` binary on shipped scenarios and
//! fixtures. Each test bounds its own run; nextest adds a global deadline.

mod crowd;
mod exact;
mod fleet;
mod gate;
mod helpers;
mod kill;
mod model;
mod reports;
mod run;
mod safety;
mod service;
mod systemd;
mod tools;
