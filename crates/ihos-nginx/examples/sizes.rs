fn main() {
    use ihos_nginx::*;
    println!(
        "Item {} Directive {} Arg {} Token {} Comment {} Block {} ParseError {} Result<Directive> {}",
        std::mem::size_of::<Item>(),
        std::mem::size_of::<Directive>(),
        std::mem::size_of::<Arg>(),
        std::mem::size_of::<Token>(),
        std::mem::size_of::<Comment>(),
        std::mem::size_of::<Block>(),
        std::mem::size_of::<ParseError>(),
        std::mem::size_of::<Result<Directive, ParseError>>()
    );
}
