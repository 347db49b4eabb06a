//! The actors of watchkeeper and the supervision they run under.
//!
//! The [`kernel`] (re-exported here) supervises actors: a [`SupervisorRef`] owns children described
//! by [`ChildSpec`]s, each child is plain state implementing [`ChildActor`] and one [`Handles<M>`]
//! per [`Message`] kind, and callers reach it through a [`ChildRef`] that stays valid across
//! restarts. Each domain subsystem is a module of its own, with its configuration beside its actor:
//!
//! | module | actor | what it does |
//! | --- | --- | --- |
//! | [`monitor`] | `MonitorActor` | turns the samples recorded by handles into statistics |
//! | [`process`] | `ProcessMonitorActor` | reads the process's resources from the OS |
//! | [`alerting`] | `AlertingActor` | evaluates rules, keeps alert state, routes notifications |
//! | [`notify`] | `NotifierActor` | delivers one channel's notifications with retries and a breaker |
//! | [`memory`] | `MemoryManagerActor` | measures memory and asks components to trim |
//! | [`tuner`] | `TunerActor` | profiles monitors and tunes them through their messages |
//! | [`probe`] | `ProbeActor` | checks the host's dependencies (TCP, HTTP, registered checks) |
//! | [`detect`] | — | statistics, baselines, anomaly detection, NAB scoring |
//!
//! This crate knows nothing of configuration files, HTTP servers or the command line; the
//! `watchkeeper` crate wires those.
#![warn(missing_docs)]

pub mod alerting;
pub mod detect;
pub mod kernel;
pub mod memory;
pub mod monitor;
pub mod notify;
pub mod probe;
pub mod process;
pub mod tuner;

pub use self::kernel::*;
