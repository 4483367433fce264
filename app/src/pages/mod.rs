pub mod dashboard;
pub mod home;
pub mod sign_in;
pub mod worker;
