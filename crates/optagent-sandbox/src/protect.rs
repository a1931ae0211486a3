//! Keeping optagent's own process out of reach of the commands it runs. Local commands run as
//! the same user as optagent; on Linux a same-user process can read `/proc/<pid>/environ`, which
//! holds the provider's key. [`protect_own_process`] marks optagent non-dumpable
//! (`PR_SET_DUMPABLE` 0): its `/proc/<pid>` files then belong to root and same-user processes can
//! neither read them nor attach a debugger. Commands it starts are not affected (the flag is reset
//! when a program is executed). The local backend also hides optagent's processes with a separate
//! pid namespace where bubblewrap is available ([`crate::bwrap`]).

/// Marks this process non-dumpable. Called once at start-up by the command line; safe to call
/// again. Elsewhere than Linux it does nothing.
pub fn protect_own_process() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_dumpable(false).map_err(std::io::Error::from)?;
        tracing::debug!("optagent made non-dumpable (PR_SET_DUMPABLE 0)");
    }
    Ok(())
}

/// Whether this process is dumpable (`PR_GET_DUMPABLE`); `None` where the platform cannot say.
pub fn own_process_dumpable() -> Option<bool> {
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::get_dumpable().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn protect_own_process_clears_the_dumpable_flag() {
        super::protect_own_process().unwrap();
        assert_eq!(super::own_process_dumpable(), Some(false));
        // A command started afterwards still runs (the flag is not inherited through exec).
        let out = std::process::Command::new("sh")
            .args(["-c", "echo ok"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }
}
