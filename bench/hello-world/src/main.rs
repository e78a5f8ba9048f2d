//! Hello world on `lambda_http`, built with the functions' release profile, so that the cold-init
//! benchmark can say how much of a function's start is the runtime's own and how much ours.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_: Request| async {
        Ok::<_, Error>(Response::new(Body::from("hello")))
    }))
    .await
}
