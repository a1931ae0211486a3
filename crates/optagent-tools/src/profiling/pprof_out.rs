//! Folded stacks as a pprof profile (`profile.proto` from the pprof crate, encoded with prost,
//! gzipped), which `go tool pprof`, speedscope and most profile viewers open. Each distinct frame
//! is one function (name, file, start line) with one location; a sample is one stack (leaf
//! first) with its cost.

use std::collections::HashMap;
use std::io::Write;

use pprof::protos::{Function, Line, Location, Profile, Sample, ValueType};
use prost::Message;

use super::{split_frame, Folded};

struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Self {
        Strings {
            table: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
    fn id(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// The profile message for folded stacks.
pub fn to_profile(folded: &Folded) -> Profile {
    let mut strings = Strings::new();
    let mut functions: Vec<Function> = Vec::new();
    let mut locations: Vec<Location> = Vec::new();
    let mut loc_of: HashMap<&str, u64> = HashMap::new();
    let mut samples = Vec::new();
    for (stack, &n) in &folded.stacks {
        let mut ids = Vec::new();
        for frame in stack.split(';').rev() {
            let id = match loc_of.get(frame) {
                Some(&id) => id,
                None => {
                    let id = functions.len() as u64 + 1;
                    let (name, location) = split_frame(frame);
                    let (file, line) = match location.as_deref().and_then(|l| l.rsplit_once(':')) {
                        Some((f, l)) => (f.to_string(), l.parse::<i64>().unwrap_or(0)),
                        None => (String::new(), 0),
                    };
                    let name_id = strings.id(&name);
                    functions.push(Function {
                        id,
                        name: name_id,
                        system_name: name_id,
                        filename: strings.id(&file),
                        start_line: line,
                    });
                    locations.push(Location {
                        id,
                        mapping_id: 0,
                        address: 0,
                        line: vec![Line {
                            function_id: id,
                            line,
                        }],
                        is_folded: false,
                    });
                    loc_of.insert(frame, id);
                    id
                }
            };
            ids.push(id);
        }
        samples.push(Sample {
            location_id: ids,
            value: vec![n as i64],
            label: vec![],
        });
    }
    let (ty, unit) = match folded.unit {
        "samples" => ("samples", "count"),
        "instructions" => ("instructions", "count"),
        "microseconds" => ("time", "microseconds"),
        "nanoseconds" => ("cpu", "nanoseconds"),
        other => (other, "count"),
    };
    let sample_type = vec![ValueType {
        ty: strings.id(ty),
        unit: strings.id(unit),
    }];
    let period_type = folded.period_ns.map(|_| ValueType {
        ty: strings.id("cpu"),
        unit: strings.id("nanoseconds"),
    });
    Profile {
        sample_type,
        sample: samples,
        mapping: vec![],
        location: locations,
        function: functions,
        string_table: strings.table,
        drop_frames: 0,
        keep_frames: 0,
        time_nanos: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
        duration_nanos: 0,
        period_type,
        period: folded.period_ns.unwrap_or(0),
        comment: vec![],
        default_sample_type: 0,
    }
}

/// The gzipped, encoded profile (`.pb.gz`).
pub fn to_pb_gz(folded: &Folded) -> Vec<u8> {
    let bytes = to_profile(folded).encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// Decode a `.pb.gz` (or plain) profile.
pub fn decode(bytes: &[u8]) -> Result<Profile, super::ProfileDataError> {
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)
            .map_err(super::ProfileDataError::Gunzip)?;
        out
    } else {
        bytes.to_vec()
    };
    Ok(Profile::decode(raw.as_slice())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let f = Folded::parse(
            "main (a.c:3);hot (a.c:10) 90\nmain (a.c:3) 10\n",
            "instructions",
        );
        let p = decode(&to_pb_gz(&f)).unwrap();
        assert_eq!(p.sample.len(), 2);
        let total: i64 = p.sample.iter().map(|s| s.value[0]).sum();
        assert_eq!(total, 100);
        let s = p.sample.iter().find(|s| s.value[0] == 90).unwrap();
        // Leaf first.
        let leaf = p
            .function
            .iter()
            .find(|f| f.id == s.location_id[0])
            .unwrap();
        assert_eq!(p.string_table[leaf.name as usize], "hot");
        assert_eq!(p.string_table[leaf.filename as usize], "a.c");
        assert_eq!(leaf.start_line, 10);
        assert_eq!(p.string_table[p.sample_type[0].ty as usize], "instructions");
    }
}
