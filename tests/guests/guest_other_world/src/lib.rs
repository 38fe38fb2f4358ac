//! Malformed guest: a well-formed component of a different world (`test:other/other`), which
//! exports `hello` and not `gamecode:plugin/agent@0.1.0`. The host must refuse to load it.

wit_bindgen::generate!({
    inline: "package test:other; world other { export hello: func() -> string; }",
});

struct Other;

impl Guest for Other {
    fn hello() -> String {
        "hello from another world".to_string()
    }
}

export!(Other);
