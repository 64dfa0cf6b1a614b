//! Mounts the chat; everything else lives in the library so it can be tested.

fn main() {
    web::start();
}
