"""Connect-a-judge (连线法官): service stations, the duty roster, the call queue and recorded calls."""
