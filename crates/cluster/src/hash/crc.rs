//! CRC-16/XMODEM and CRC-32 (IEEE, reflected), table-driven; the tables are
//! computed at compile time from the polynomials.

/// CRC-16/XMODEM's table: polynomial 0x1021, most significant bit first.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000 != 0 { (r << 1) ^ 0x1021 } else { r << 1 };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

/// CRC-32's table: reflected polynomial 0xEDB88320, least significant bit
/// first.
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = i as u32;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 1 != 0 { (r >> 1) ^ 0xedb8_8320 } else { r >> 1 };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

/// nutcracker's `crc16`: the register is a `uint32_t` shifted left a byte
/// per input byte and never masked, so the result carries bits above the
/// CRC; the table index only ever looks at bits 8..16.
pub(super) fn crc16(key: &[u8]) -> u32 {
    let mut crc: u32 = 0;
    for &b in key {
        let index = ((crc >> 8) ^ u32::from(b)) & 0xff;
        crc = (crc << 8) ^ u32::from(CRC16_TABLE[index as usize]);
    }
    crc
}

/// The standard CRC-32 (zlib's), nutcracker's `crc32a`.
pub(super) fn crc32(key: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in key {
        crc = CRC32_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// nutcracker's `crc32`, as libmemcached defines it: bits 16..31 of the
/// CRC-32, masked to 15 bits.
pub(super) fn crc32_libmemcached(key: &[u8]) -> u32 {
    (crc32(key) >> 16) & 0x7fff
}
