//! What a board takes from its host through semihosting: its command line (node id, seed, flash
//! file, cluster key file), the key, and a file that stands in for its flash.
//!
//! QEMU passes `-append "id=2 seed=7 flash=board-2.flash key=cluster.key"` as the semihosting
//! command line
//! (after the kernel's path). The flash file outlives the QEMU process: each program is a
//! host `write` at an offset, so what the firmware programmed before a SIGKILL is in the file.

use cortex_m_semihosting::nr;
use raft_embedded_example::journal::{Flash, FlashError, ERASE_UNIT};

/// The longest command line read. QEMU puts the kernel's path first, so the line grows with
/// that path: the host bus passes the ELF by a short link in the run directory
/// (`board-N.elf`), and 256 bytes leave room for a path of about 180 bytes run by hand. The
/// buffer lives only while the line is parsed at boot.
const CMDLINE_BYTES: usize = 256;

/// A board's identity and storage, from its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardArgs {
    /// Its node id.
    pub id: u32,
    /// Its seed (election jitter).
    pub seed: u64,
    /// Bytes of its flash region (`flash_kib=`, default 64 KiB, at least 16 KiB).
    pub flash_bytes: u32,
    name: [u8; 64],
    name_len: usize,
    key: [u8; 64],
    key_len: usize,
}

impl BoardArgs {
    /// The flash file's name, NUL-terminated for `SYS_OPEN`.
    fn flash_name(&self) -> &[u8] {
        &self.name[..=self.name_len]
    }
}

/// Why the command line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum ArgsError {
    /// The host gave no command line, or one longer than the buffer (`CMDLINE_BYTES`).
    NoCommandLine,
    /// `id=` missing or not a number.
    Id,
    /// `seed=` not a number.
    Seed,
    /// `flash=` missing or longer than 63 bytes.
    Flash,
    /// `flash_kib=` not an even number of whole erase units (the journal's two halves), or
    /// under 16.
    FlashSize,
    /// `key=` missing or longer than 63 bytes.
    KeyFile,
}

/// Why the cluster key could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum KeyError {
    /// The key file could not be opened or read.
    Read,
    /// It holds neither 64 hex digits nor 32 raw bytes (the host's key file format).
    Format,
}

/// Reads and parses the semihosting command line:
/// `id=N [seed=N] flash=PATH key=PATH [flash_kib=N]`
/// (other words, such as the kernel path QEMU puts first, are ignored).
pub fn args() -> Result<BoardArgs, ArgsError> {
    let mut buf = [0u8; CMDLINE_BYTES];
    // SYS_GET_CMDLINE takes a block [buffer, length] and writes the length back into it.
    let mut block = [buf.as_mut_ptr() as usize, buf.len() - 1];
    // SAFETY: the block names a buffer we own for the call's duration, as the call requires.
    let r = unsafe { cortex_m_semihosting::syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    if r != 0 {
        return Err(ArgsError::NoCommandLine);
    }
    let len = block[1].min(buf.len());
    parse(&buf[..len])
}

/// A decimal number (digits only). Not `str::parse`: that pulls in 400 bytes of flash for
/// signs, radixes and UTF-8 checks a board's command line does not need.
fn number(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &c| {
        let d = c.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Parses a command line (see [`args`]).
pub fn parse(line: &[u8]) -> Result<BoardArgs, ArgsError> {
    let mut a = BoardArgs {
        id: 0,
        seed: 1,
        flash_bytes: 64 * 1024,
        name: [0; 64],
        name_len: 0,
        key: [0; 64],
        key_len: 0,
    };
    for word in line
        .split(|&b| b == b' ' || b == 0)
        .filter(|w| !w.is_empty())
    {
        let Some(eq) = word.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (key, value) = (&word[..eq], &word[eq + 1..]);
        match key {
            b"id" => {
                a.id = number(value)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(ArgsError::Id)?
            }
            b"seed" => a.seed = number(value).ok_or(ArgsError::Seed)?,
            b"flash" => a.name_len = file_name(value, &mut a.name).ok_or(ArgsError::Flash)?,
            b"key" => a.key_len = file_name(value, &mut a.key).ok_or(ArgsError::KeyFile)?,
            b"flash_kib" => {
                let kib = number(value).ok_or(ArgsError::FlashSize)?;
                let bytes = kib
                    .checked_mul(1024)
                    .and_then(|b| u32::try_from(b).ok())
                    .ok_or(ArgsError::FlashSize)?;
                // Two halves of whole erase units (the journal's, see its docs), each room
                // for the live records at their largest (a full RAM ring and a record's
                // overhead per entry: about 6.3 KiB).
                if bytes < 4 * ERASE_UNIT || !bytes.is_multiple_of(2 * ERASE_UNIT) {
                    return Err(ArgsError::FlashSize);
                }
                a.flash_bytes = bytes;
            }
            _ => {}
        }
    }
    if a.id == 0 {
        return Err(ArgsError::Id);
    }
    if a.name_len == 0 {
        return Err(ArgsError::Flash);
    }
    if a.key_len == 0 {
        return Err(ArgsError::KeyFile);
    }
    Ok(a)
}

/// Copies a file name into `out`, NUL-terminated; its length, or `None` if empty or too long.
fn file_name(value: &[u8], out: &mut [u8; 64]) -> Option<usize> {
    if value.is_empty() || value.len() >= out.len() {
        return None;
    }
    out[..value.len()].copy_from_slice(value);
    out[value.len()] = 0;
    Some(value.len())
}

/// `SYS_OPEN` mode "rb".
const MODE_RB: usize = 1;

/// Reads the cluster key file named by `key=` (the host's format: 64 hex digits, or 32 raw
/// bytes; `raft_seal::key::parse`).
pub fn read_key(args: &BoardArgs) -> Result<[u8; 32], KeyError> {
    let handle = open(&args.key[..=args.key_len], MODE_RB).ok_or(KeyError::Read)?;
    // Room for 64 hex digits and a line end; a longer file is not a key.
    let mut buf = [0u8; 72];
    let block = [handle, buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: the block names our open handle and a buffer we own for the call, which the host
    // fills. The call returns the bytes NOT read.
    let left = unsafe { cortex_m_semihosting::syscall(nr::READ, &block) };
    // SAFETY: the block names our open handle, closed once here.
    unsafe { cortex_m_semihosting::syscall(nr::CLOSE, &[handle]) };
    let read = buf.len().checked_sub(left).ok_or(KeyError::Read)?;
    let key = raft_seal::key::parse(&buf[..read]).ok_or(KeyError::Format);
    buf.fill(0);
    key
}

/// A flash region in a host file, through semihosting file I/O.
pub struct FileFlash {
    handle: usize,
    size: u32,
    /// True when the file did not exist (or was shorter than the region) and was erased.
    pub fresh: bool,
}

/// `SYS_OPEN` modes (ISO C `fopen` modes by number).
const MODE_RB_PLUS: usize = 3;
const MODE_WB_PLUS: usize = 7;

fn open(name: &[u8], mode: usize) -> Option<usize> {
    let block = [name.as_ptr() as usize, mode, name.len() - 1];
    // SAFETY: `name` is NUL-terminated and lives for the call; the block is ours.
    let h = unsafe { cortex_m_semihosting::syscall(nr::OPEN, &block) };
    (h != usize::MAX).then_some(h)
}

impl FileFlash {
    /// Opens the board's flash file, or creates it erased (all `0xFF`) if it is missing.
    pub fn open(args: &BoardArgs) -> Result<FileFlash, FlashError> {
        let name = args.flash_name();
        let (handle, mut fresh) = match open(name, MODE_RB_PLUS) {
            Some(h) => (h, false),
            None => (open(name, MODE_WB_PLUS).ok_or(FlashError)?, true),
        };
        let mut f = FileFlash {
            handle,
            size: args.flash_bytes,
            fresh,
        };
        // SAFETY: the block names our open handle.
        let len = unsafe { cortex_m_semihosting::syscall(nr::FLEN, &[handle]) };
        if len == usize::MAX || len < f.size as usize {
            // A new (or short) file: erase it.
            f.fill_erased(0, f.size)?;
            fresh = true;
        }
        f.fresh = fresh;
        Ok(f)
    }

    /// Writes `0xFF` over the `len` bytes at `at`, 256 at a time.
    fn fill_erased(&mut self, at: u32, len: u32) -> Result<(), FlashError> {
        let erased = [0xFFu8; 256];
        let mut off = at;
        while off < at + len {
            self.write_at(off, &erased)?;
            off += erased.len() as u32;
        }
        Ok(())
    }

    fn seek(&mut self, offset: u32) -> Result<(), FlashError> {
        let block = [self.handle, offset as usize];
        // SAFETY: the block names our open handle.
        let r = unsafe { cortex_m_semihosting::syscall(nr::SEEK, &block) };
        if r == 0 {
            Ok(())
        } else {
            Err(FlashError)
        }
    }

    fn write_at(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.seek(offset)?;
        let block = [self.handle, data.as_ptr() as usize, data.len()];
        // SAFETY: the block names our handle and a buffer we own for the call; the host only
        // reads it. The call returns the bytes NOT written.
        let left = unsafe { cortex_m_semihosting::syscall(nr::WRITE, &block) };
        if left == 0 {
            Ok(())
        } else {
            Err(FlashError)
        }
    }
}

impl Flash for FileFlash {
    fn size(&self) -> u32 {
        self.size
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        if offset as usize + buf.len() > self.size as usize {
            return Err(FlashError);
        }
        self.seek(offset)?;
        let block = [self.handle, buf.as_mut_ptr() as usize, buf.len()];
        // SAFETY: the block names our handle and a buffer we own for the call, which the host
        // fills. The call returns the bytes NOT read.
        let left = unsafe { cortex_m_semihosting::syscall(nr::READ, &block) };
        if left == 0 {
            Ok(())
        } else {
            Err(FlashError)
        }
    }

    fn erase(&mut self, offset: u32) -> Result<(), FlashError> {
        if !offset.is_multiple_of(ERASE_UNIT) || offset + ERASE_UNIT > self.size {
            return Err(FlashError);
        }
        self.fill_erased(offset, ERASE_UNIT)
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        if offset as usize + data.len() > self.size as usize {
            return Err(FlashError);
        }
        self.write_at(offset, data)
    }
}
