//! Manifest decoding never panics on any bytes (a damaged or foreign RocksDB row is an error,
//! not a crash), and whatever decodes re-encodes to bytes that decode to the same thing.
#![no_main]

use ferry_state::codec::{KeyCodec, Schema, ValueCodec};
use ferry_state::schema::{
    BackupsSchema, MetaSchema, ObjectsSchema, PairsSchema, RestoresSchema, UploadsSchema,
};
use libfuzzer_sys::fuzz_target;

fn check<S: Schema>(data: &[u8])
where
    S::Key: PartialEq,
    S::Value: PartialEq,
{
    if let Ok(k) = S::Key::decode_key(data) {
        let again = S::Key::decode_key(&k.encode_key()).expect("re-encoded key decodes");
        assert_eq!(again, k, "{}: key round trip", S::CF);
    }
    if let Ok(v) = S::Value::decode_value(data) {
        let again = S::Value::decode_value(&v.encode_value()).expect("re-encoded value decodes");
        assert_eq!(again, v, "{}: value round trip", S::CF);
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the schema, so the fuzzer can specialise; every schema still sees
    // every input shape.
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 6 {
        0 => check::<MetaSchema>(rest),
        1 => check::<PairsSchema>(rest),
        2 => check::<ObjectsSchema>(rest),
        3 => check::<UploadsSchema>(rest),
        4 => check::<BackupsSchema>(rest),
        _ => check::<RestoresSchema>(rest),
    }
});
