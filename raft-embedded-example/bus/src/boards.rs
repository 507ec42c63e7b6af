//! The boards: one `qemu-system-arm -machine mps2-an386` process each, started with its id,
//! seed, flash file and the cluster key file on the semihosting command line and its UART0 on
//! the bus.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One board's QEMU process.
pub struct Board {
    /// Its node id.
    pub id: u32,
    child: Option<Child>,
    /// A QEMU killed but not yet waited for: [`Board::kill`] does not block. (Waiting there
    /// once took about 2.8 s in CI, while the bus, polled on the caller's thread, stood still;
    /// a process in the middle of a write to its flash file exits only once the write
    /// completes, the likely reason on a busy disk.) [`Board::reap`] waits, before the flash
    /// file is opened again.
    dying: Option<Child>,
}

/// How to start boards.
#[derive(Clone, Debug)]
pub struct BoardSetup {
    /// The `raft-board` ELF.
    pub elf: PathBuf,
    /// Where the flash files and logs go (QEMU's working directory).
    pub dir: PathBuf,
    /// The run's seed; board `id` gets `seed + id`.
    pub seed: u64,
    /// Each board's flash region in KiB (`flash_kib=`: an even number of 4 KiB erase units;
    /// the firmware's default is 64). Small regions make the journal collect often.
    pub flash_kib: u32,
}

impl BoardSetup {
    /// The flash file of board `id`, inside [`BoardSetup::dir`].
    pub fn flash(&self, id: u32) -> PathBuf {
        self.dir.join(format!("board-{id}.flash"))
    }

    /// The cluster key file every board reads (the host's format), inside
    /// [`BoardSetup::dir`].
    pub fn key(&self) -> PathBuf {
        self.dir.join("cluster.key")
    }

    /// Writes a cluster key file drawn from the run's seed (a test key: not secret).
    pub fn write_key(&self) -> std::io::Result<()> {
        let mut rng = raft_embedded_example::rng::Rng::new(self.seed ^ 0x6B65_7966);
        let hex: String = (0..32).map(|_| format!("{:02x}", rng.below(256))).collect();
        std::fs::write(self.key(), hex + "\n")
    }

    /// Starts board `id` connected to the bus at `bus`. Its stdout (the defmt stream, raw)
    /// is appended to `board-{id}.defmt` and its stderr to `board-{id}.err` in the directory.
    pub fn start(&self, id: u32, bus: SocketAddr) -> std::io::Result<Board> {
        let log = |ext: &str| {
            File::options()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("board-{id}.{ext}")))
        };
        // QEMU puts the kernel's path first on the semihosting command line, which the
        // firmware reads into a fixed buffer at boot: a link in `dir` (where QEMU runs) keeps
        // that path a few bytes long wherever the checkout lies. One link per board: boards
        // may start at once.
        let link = format!("board-{id}.elf");
        match std::fs::remove_file(self.dir.join(&link)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::os::unix::fs::symlink(self.elf.canonicalize()?, self.dir.join(&link))?;
        let child = Command::new("qemu-system-arm")
            .args(["-machine", "mps2-an386", "-cpu", "cortex-m4"])
            .args(["-display", "none", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-serial")
            .arg(format!("tcp:{bus}"))
            .arg("-kernel")
            .arg(&link)
            .arg("-append")
            .arg(format!(
                "id={id} seed={} flash=board-{id}.flash key=cluster.key flash_kib={}",
                self.seed.wrapping_add(id.into()),
                self.flash_kib
            ))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log("defmt")?)
            .stderr(log("err")?)
            .spawn()?;
        Ok(Board {
            id,
            child: Some(child),
            dying: None,
        })
    }
}

impl Board {
    /// Cuts the power: SIGKILL, no chance to flush anything. Returns once the signal is sent;
    /// the process may take a moment to exit ([`Board::reap`] waits for it).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `Child::kill` sends SIGKILL on Unix.
            let _ = c.kill();
            self.dying = Some(c);
        }
    }

    /// Waits until a killed QEMU has exited, so that nothing of it still writes the flash file
    /// a restarted board reads.
    pub fn reap(&mut self) {
        if let Some(mut c) = self.dying.take() {
            let _ = c.wait();
        }
    }

    /// Whether the process has exited on its own (a node that stopped exits 1).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        self.kill();
        self.reap();
    }
}

/// Whether QEMU for the boards is installed.
pub fn qemu_available() -> bool {
    Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The release `raft-board` ELF of the firmware workspace at `firmware`.
pub fn board_elf(firmware: &Path) -> PathBuf {
    firmware.join("target/thumbv7em-none-eabihf/release/raft-board")
}
