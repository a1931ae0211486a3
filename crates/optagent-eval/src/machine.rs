//! The machine's state around a measurement session (cores, load), where measured processes are
//! pinned, and whether a CUDA GPU is present.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MachineState {
    pub cores: usize,
    /// 1-minute load average (`/proc/loadavg`), when the platform has it.
    pub load1: Option<f64>,
}

impl MachineState {
    pub fn now() -> Self {
        let load1 = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()));
        MachineState {
            cores: optagent_sandbox::available_cpus().len().max(1),
            load1,
        }
    }
}

/// The CPUs measured runs are pinned to by default: the last allowed CPU when there are at least
/// two (the rest stay for optagent itself and other work), none on a single core.
pub fn default_pin() -> Vec<usize> {
    let cpus = optagent_sandbox::available_cpus();
    if cpus.len() >= 2 {
        vec![*cpus.last().expect("non-empty")]
    } else {
        vec![]
    }
}

/// Why no CUDA GPU is usable here.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// `nvidia-smi -L` ran and listed no GPU (its standard error).
    #[error("nvidia-smi -L found no GPU: {0}")]
    NoGpu(String),
    #[error("nvidia-smi not found: {0}")]
    NoNvidiaSmi(#[source] std::io::Error),
}

/// `Ok` when `nvidia-smi -L` lists a GPU.
pub fn cuda_available() -> Result<(), CudaError> {
    match std::process::Command::new("nvidia-smi").arg("-L").output() {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GPU") => Ok(()),
        Ok(o) => Err(CudaError::NoGpu(
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        )),
        Err(e) => Err(CudaError::NoNvidiaSmi(e)),
    }
}
