//! `/topic` semantics (the de-facto convention of STOMP brokers): each
//! message goes to every current subscriber, and nothing is kept for
//! subscribers that join later.

use crate::context::{Context, Outcome};

pub async fn fan_out(context: &Context) -> Outcome {
    let topic = context.topic("fan-out");
    let mut subscribers = Vec::new();
    for id in ["s1", "s2", "s3"] {
        let mut connection = context.connect().await?;
        context.subscribe(&mut connection, &topic, id, &[]).await?;
        subscribers.push(connection);
    }
    let mut sender = context.connect().await?;
    context
        .send_text(&mut sender, &topic, "to all", &[])
        .await?;
    context.disconnect(&mut sender).await;
    for (index, connection) in subscribers.iter_mut().enumerate() {
        context
            .expect_message(connection, "to all")
            .await
            .map_err(|why| format!("subscriber {} of 3: {why}", index + 1))?;
        connection
            .expect_silence(context.quiet() / 3)
            .await
            .map_err(|why| format!("subscriber {} of 3: {why}", index + 1))?;
        context.disconnect(connection).await;
    }
    Ok(())
}

pub async fn no_history(context: &Context) -> Outcome {
    let topic = context.topic("no-history");
    let mut early = context.connect().await?;
    context.subscribe(&mut early, &topic, "s1", &[]).await?;
    context
        .send_text(&mut early, &topic, "earlier", &[])
        .await?;
    context.expect_message(&mut early, "earlier").await?;
    let mut late = context.connect().await?;
    context.subscribe(&mut late, &topic, "s2", &[]).await?;
    context.send_text(&mut early, &topic, "later", &[]).await?;
    context
        .expect_message(&mut late, "later")
        .await
        .map_err(|why| format!("the late subscriber: {why}"))?;
    context.disconnect(&mut early).await;
    context.disconnect(&mut late).await;
    Ok(())
}
