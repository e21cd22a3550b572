//! `docker update`: a running container's limits changed in place, without a restart
//! (NOTES: "Changing resources without a restart"). The flags are built by the caller
//! (`live::limits`), which knows the rule for `--memory-swap`.

use super::{Docker, DockerError};

impl Docker {
    /// `docker update FLAGS CONTAINER`.
    pub fn update<S: AsRef<str>>(&self, container: &str, flags: &[S]) -> Result<(), DockerError> {
        let mut args = vec!["update"];
        args.extend(flags.iter().map(AsRef::as_ref));
        args.push(container);
        self.run(&args, self.timeouts.query)?;
        Ok(())
    }
}
