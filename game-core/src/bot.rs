//! placeholder
#[derive(Debug, Clone, Copy)]
pub enum BotLevel {
    Easy,
}
#[derive(Debug)]
pub struct Bot;
