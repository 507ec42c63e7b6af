//! A NOR-like flash in RAM for the host tests of the board's journal.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use raft_embedded_example::journal::{Flash, FlashError, ERASE_UNIT};

/// RAM flash that survives "reboots" (a test reopens it), shared by clones. Programming may
/// only clear bits (it panics if asked to set one: the journal never should); an erase sets a
/// whole unit back to `0xFF`. With a power budget, the flash "loses power" once that many
/// operations (programs and erases) have been done: the operation that finds the budget spent
/// does only its first half (a torn write or erase) and it and every later one fail.
#[derive(Clone)]
pub struct RamFlash {
    cells: Rc<RefCell<Vec<u8>>>,
    power: Rc<RefCell<Option<u32>>>,
    erases: Rc<RefCell<u32>>,
}

impl RamFlash {
    /// An erased flash of `len` bytes.
    pub fn new(len: usize) -> RamFlash {
        RamFlash::from_bytes(vec![0xFF; len])
    }

    /// A flash holding `bytes` (a copy of another, say).
    pub fn from_bytes(bytes: Vec<u8>) -> RamFlash {
        RamFlash {
            cells: Rc::new(RefCell::new(bytes)),
            power: Rc::new(RefCell::new(None)),
            erases: Rc::new(RefCell::new(0)),
        }
    }

    /// A copy of the cells.
    pub fn bytes(&self) -> Vec<u8> {
        self.cells.borrow().clone()
    }

    /// Power is cut after `ops` more programs and erases.
    pub fn cut_after(&self, ops: u32) {
        *self.power.borrow_mut() = Some(ops);
    }

    /// Whether the power was cut.
    pub fn is_cut(&self) -> bool {
        *self.power.borrow() == Some(0)
    }

    /// Erases begun so far (whole or cut).
    pub fn erases(&self) -> u32 {
        *self.erases.borrow()
    }

    /// Takes one operation from the budget: `false` once there is none (the power is cut).
    fn spend(&self) -> bool {
        match &mut *self.power.borrow_mut() {
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
            None => true,
        }
    }
}

impl Flash for RamFlash {
    fn size(&self) -> u32 {
        self.cells.borrow().len() as u32
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let o = offset as usize;
        buf.copy_from_slice(
            self.cells
                .borrow()
                .get(o..o + buf.len())
                .ok_or(FlashError)?,
        );
        Ok(())
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let whole = self.spend();
        let o = offset as usize;
        let mut cells = self.cells.borrow_mut();
        let cells = cells.get_mut(o..o + data.len()).ok_or(FlashError)?;
        let n = if whole { data.len() } else { data.len() / 2 };
        for (c, d) in cells.iter_mut().zip(data).take(n) {
            // NOR: a 0 bit cannot become 1 without an erase; the journal never asks it to.
            assert_eq!(*c & d, *d, "programmed over written bytes at {o}");
            *c &= d;
        }
        if whole {
            Ok(())
        } else {
            Err(FlashError)
        }
    }

    fn erase(&mut self, offset: u32) -> Result<(), FlashError> {
        assert_eq!(
            offset % ERASE_UNIT,
            0,
            "erase at {offset}: not a unit boundary"
        );
        let whole = self.spend();
        *self.erases.borrow_mut() += 1;
        let o = offset as usize;
        let mut cells = self.cells.borrow_mut();
        let unit = cells
            .get_mut(o..o + ERASE_UNIT as usize)
            .ok_or(FlashError)?;
        let n = if whole { unit.len() } else { unit.len() / 2 };
        unit[..n].fill(0xFF);
        if whole {
            Ok(())
        } else {
            Err(FlashError)
        }
    }
}
